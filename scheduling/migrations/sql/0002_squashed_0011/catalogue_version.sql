-- The catalogue's version: a number bumped by triggers (migrations 0006, 0008).
--
-- Every search and booking must know whether the catalogue (offerings, pricing policies, profiles,
-- availability windows) it cached is still current. Instead of hashing every row version at every
-- search (0006's fingerprint: about a millisecond of PostgreSQL CPU per search with 1,000
-- offerings), a statement-level trigger on each of those tables sets one version row, in the
-- writing transaction, to a fresh number from a sequence, so the version changes exactly when
-- (and, for the writer itself, as soon as) the catalogue does, a number is never given to two
-- different catalogues, and a search reads one row. Catalogue writes are rare owner edits; they
-- serialise on the counter row until commit, which bookings never touch (they lock offerings FOR
-- NO KEY UPDATE and write no catalogue rows).
--
-- The table scheduling_catalogue_version (one row, id = 1) and its sequence
-- scheduling_catalogue_version_seq are schema, created by the migration.

-- The new version comes from a sequence, not version + 1: a rolled-back change must not leave
-- its number to be reused by a different change (a process may have cached what it saw inside
-- that transaction under that number).
CREATE OR REPLACE FUNCTION scheduling_catalogue_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scheduling_catalogue_version AS v VALUES (1, nextval('scheduling_catalogue_version_seq'))
        ON CONFLICT (id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$;

-- The version as text ('none' before the first one), for callers that only compare it.
CREATE OR REPLACE FUNCTION scheduling_catalogue_fingerprint() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT version::text FROM scheduling_catalogue_version WHERE id = 1), 'none');
END
$$;

DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON owners_offering;
CREATE TRIGGER scheduling_catalogue_bump AFTER INSERT OR UPDATE OR DELETE ON owners_offering
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON owners_offering;
CREATE TRIGGER scheduling_catalogue_bump_truncate AFTER TRUNCATE ON owners_offering
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();

DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON owners_pricingpolicy;
CREATE TRIGGER scheduling_catalogue_bump AFTER INSERT OR UPDATE OR DELETE ON owners_pricingpolicy
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON owners_pricingpolicy;
CREATE TRIGGER scheduling_catalogue_bump_truncate AFTER TRUNCATE ON owners_pricingpolicy
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();

DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON owners_sliceprofile;
CREATE TRIGGER scheduling_catalogue_bump AFTER INSERT OR UPDATE OR DELETE ON owners_sliceprofile
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON owners_sliceprofile;
CREATE TRIGGER scheduling_catalogue_bump_truncate AFTER TRUNCATE ON owners_sliceprofile
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();

DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON owners_availabilitywindow;
CREATE TRIGGER scheduling_catalogue_bump AFTER INSERT OR UPDATE OR DELETE ON owners_availabilitywindow
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON owners_availabilitywindow;
CREATE TRIGGER scheduling_catalogue_bump_truncate AFTER TRUNCATE ON owners_availabilitywindow
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_catalogue_bump();
