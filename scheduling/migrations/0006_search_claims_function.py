"""scheduling_search_claims(): one call per search page chunk, its plans cached per session.

Returns the claims of the given offerings overlapping [start, end) (written to use the partial
GiST index scheduling_booking_claims) and, when asked, a fingerprint of the catalogue tables
(offerings, pricing policies, profiles, availability windows: row count and a sum of hashes of
each row version's xmin and ctid), which selectors compare with the catalogue they cached. As a
PL/pgSQL function its statements are planned once per connection instead of at every search.
"""

from django.db import migrations

ROW_VERSIONS = "count(*) || ':' || coalesce(sum(hashtextextended(t.xmin::text || t.ctid::text, 0)), 0)"

FORWARD = f"""
CREATE FUNCTION scheduling_catalogue_fingerprint() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT {ROW_VERSIONS} FROM owners_offering t)
        || '/' || (SELECT {ROW_VERSIONS} FROM owners_pricingpolicy t)
        || '/' || (SELECT {ROW_VERSIONS} FROM owners_sliceprofile t)
        || '/' || (SELECT {ROW_VERSIONS} FROM owners_availabilitywindow t);
END
$$;

CREATE FUNCTION scheduling_search_claims(
    p_offerings bigint[], p_start timestamptz, p_end timestamptz, p_fingerprint boolean
) RETURNS TABLE (
    fingerprint text, offering_id bigint, starts_at timestamptz, ends_at timestamptz,
    vcpus integer, ram_mib integer, disk_gb integer, bandwidth_mbps integer
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_fingerprint THEN
        fingerprint := scheduling_catalogue_fingerprint();
        RETURN NEXT;  -- first row: the fingerprint alone
    END IF;
    RETURN QUERY
        SELECT NULL::text, b.offering_id, b.starts_at, b.ends_at,
               b.vcpus::integer, b.ram_mib::integer, b.disk_gb::integer, b.bandwidth_mbps::integer
        FROM scheduling_booking b
        WHERE b.offering_id = ANY(p_offerings)
          AND b.state IN ('confirmed', 'provisioning', 'running', 'notice')
          AND tstzrange(b.starts_at, b.ends_at) && tstzrange(p_start, p_end);
END
$$;
"""

BACKWARD = """
DROP FUNCTION IF EXISTS scheduling_search_claims(bigint[], timestamptz, timestamptz, boolean);
DROP FUNCTION IF EXISTS scheduling_catalogue_fingerprint();
"""


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0005_offering_peak_plpgsql"), ("owners", "0002_predefined_profiles")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
