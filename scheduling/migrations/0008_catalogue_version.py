"""The catalogue's fingerprint becomes a version number bumped by triggers.

Migration 0006 fingerprinted the catalogue (offerings, pricing policies, profiles, availability
windows) by hashing every row version at every search: about a millisecond of PostgreSQL CPU per
search with 1,000 offerings, most of a search's database time. Instead, a statement-level trigger
on each of those tables sets one version row, in the writing transaction, to a fresh number from
a sequence, so the version changes exactly when (and, for the writer itself, as soon as) the
catalogue does, a number is never given to two different catalogues, and a search reads one row. Catalogue writes are rare owner edits; they serialise on the counter row until commit, which
bookings never touch (they lock offerings FOR NO KEY UPDATE and write no catalogue rows).
"""

import importlib

from django.db import migrations

# 0006's scheduling_search_claims, re-created here with the version read inline: a call to another
# function from PL/pgSQL is planned again at every call (a fifth of a millisecond per search), a
# statement of its own once per connection. Read from 0006 so the two cannot drift.
_0006 = importlib.import_module("scheduling.migrations.0006_search_claims_function").FORWARD
_CLAIMS = _0006[_0006.index("CREATE FUNCTION scheduling_search_claims(") :].replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
)
_NESTED = "fingerprint := scheduling_catalogue_fingerprint();"
_INLINE = (
    "SELECT v.version::text INTO fingerprint FROM scheduling_catalogue_version v WHERE v.id = 1;\n"
    "        fingerprint := coalesce(fingerprint, 'none');"
)
assert _CLAIMS.count(_NESTED) == 1

TABLES = ("owners_offering", "owners_pricingpolicy", "owners_sliceprofile", "owners_availabilitywindow")

FORWARD = (
    """
CREATE SEQUENCE scheduling_catalogue_version_seq;
CREATE TABLE scheduling_catalogue_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO scheduling_catalogue_version VALUES (1, nextval('scheduling_catalogue_version_seq'));

-- The new version comes from a sequence, not version + 1: a rolled-back change must not leave
-- its number to be reused by a different change (a process may have cached what it saw inside
-- that transaction under that number).
CREATE FUNCTION scheduling_catalogue_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scheduling_catalogue_version AS v VALUES (1, nextval('scheduling_catalogue_version_seq'))
        ON CONFLICT (id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION scheduling_catalogue_fingerprint() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT version::text FROM scheduling_catalogue_version WHERE id = 1), 'none');
END
$$;

"""
    + _CLAIMS.replace(_NESTED, _INLINE)
    + "".join(
        f"""
CREATE TRIGGER scheduling_catalogue_bump AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
CREATE TRIGGER scheduling_catalogue_bump_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
"""
        for table in TABLES
    )
)

BACKWARD = (
    "".join(
        f"""
DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON {table};
DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON {table};
"""
        for table in TABLES
    )
    + """
DROP FUNCTION IF EXISTS scheduling_catalogue_bump();
"""
    + _CLAIMS
    + """
DROP TABLE IF EXISTS scheduling_catalogue_version;
DROP SEQUENCE IF EXISTS scheduling_catalogue_version_seq;
"""
    # 0006's fingerprint function (CREATE OR REPLACE of the one 0008 changed).
    + _0006[: _0006.index("CREATE FUNCTION scheduling_search_claims(")].replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )
)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0007_offering_capacity_guard")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
