"""scheduling_booking_request() checks the catalogue version its caller priced the slice from.

Before this, every booking read its catalogue entry (the offering, its price for the profile, its
availability windows) in a query of its own, then called the function: two round trips, and the
read was a third of a booking's time. Now a process keeps the entries it has read, tagged with the
catalogue version they were read at (migration 0008: a row set to a fresh sequence number by any
write to offerings, prices, profiles or windows), and passes that version in. Under the offering's
row lock (so an owner's edit of the offering row has committed or not started), the function
compares it with the current one; if they differ it writes nothing and answers status 'stale', and
the caller reads the entry again and retries. The rules checked in Python (status, windows,
lengths, images, price) therefore always come from the catalogue as it is when the booking is
written, as before, where the entry used to be read just before. NULL skips the check.

The function's text is 0010's, with the parameter and the check added (read from 0010 so the two
cannot drift). Its signature changes, so the 20-argument one is dropped first.
"""

import importlib

from django.db import migrations

_0010 = importlib.import_module("scheduling.migrations.0010_booking_request_skips_recheck").FORWARD
_PARAMS = "p_audit jsonb, p_requested jsonb,"
_LOCKED = "FROM owners_offering o WHERE o.id = p_offering FOR NO KEY UPDATE;"
_CHECK = """FROM owners_offering o WHERE o.id = p_offering FOR NO KEY UPDATE;
    IF p_version IS NOT NULL
       AND p_version IS DISTINCT FROM (SELECT v.version FROM scheduling_catalogue_version v WHERE v.id = 1) THEN
        -- The caller's entry is older than the catalogue: nothing is written; it reads again and retries.
        status := 'stale';
        RETURN;
    END IF;"""
assert _0010.count(_PARAMS) == 1 and _0010.count(_LOCKED) == 1

_OLD_SIGNATURE = """scheduling_booking_request(
    bigint, bigint, bigint, text, timestamptz, timestamptz, integer, integer, integer, integer,
    text, integer, text, uuid, timestamptz, bigint, integer, text, jsonb, jsonb)"""
_NEW_SIGNATURE = _OLD_SIGNATURE.replace("jsonb, jsonb)", "jsonb, jsonb, bigint)")

FORWARD = f"DROP FUNCTION {_OLD_SIGNATURE};\n" + _0010.replace(
    _PARAMS, "p_audit jsonb, p_requested jsonb, p_version bigint,"
).replace(_LOCKED, _CHECK)
BACKWARD = f"DROP FUNCTION {_NEW_SIGNATURE};\n" + _0010


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0010_booking_request_skips_recheck")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
