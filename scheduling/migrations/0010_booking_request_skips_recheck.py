"""scheduling_booking_request() tells the deferred capacity trigger that it checked the claim.

The function (0004) checks a fixed-price booking's fit under the offering's row lock, which the
transaction holds until commit; the deferred constraint trigger (0002) then checked the same claim
again at commit: a second lock and peak query, about a tenth of a booking's database time. After
inserting a confirmed booking the function now adds its (offering, period) key to the trigger's
per-transaction memo, exactly as the trigger does after its own check. The memo's rule is kept:
any later INSERT, UPDATE or DELETE on bookings in the transaction clears it (the statement
trigger), so a claim added afterwards, by any path, is checked at commit with everything else.

The function's text is 0004's with that one step added (read from 0004 so the two cannot drift).
"""

import importlib

from django.db import migrations

_BASE = importlib.import_module("scheduling.migrations.0004_booking_request_function").FORWARD
_INSERTED = ") RETURNING id INTO booking_id;"
_MEMO = """) RETURNING id INTO booking_id;
    IF state = 'confirmed' THEN
        -- Checked above under the offering's lock, held until commit: the deferred trigger may skip it.
        -- Same key as scheduling_booking_capacity_check(); the INSERT's statement trigger ran already.
        PERFORM set_config('scheduling.capacity_checked',
            coalesce(current_setting('scheduling.capacity_checked', true), '') || '|' || p_offering || '/'
            || extract(epoch FROM p_starts) || '/' || extract(epoch FROM p_ends) || '|', true);
    END IF;"""
assert _BASE.count(_INSERTED) == 1 and _BASE.count("CREATE FUNCTION scheduling_booking_request(") == 1

FORWARD = _BASE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(_INSERTED, _MEMO)
BACKWARD = _BASE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0009_booking_price_schedule")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
