-- scheduling_search_claims(): one call per search page chunk, its plans cached per session
-- (migrations 0006, 0008).
--
-- Returns the claims of the given offerings overlapping [start, end) (written to use the partial
-- GiST index scheduling_booking_claims, claims_index.sql) and, when asked, the catalogue's version
-- first (catalogue_version.sql), which selectors compare with the catalogue they cached. As a
-- PL/pgSQL function its statements are planned once per connection instead of at every search.
-- The version is read inline rather than through scheduling_catalogue_fingerprint(): a call to
-- another function from PL/pgSQL is planned again at every call (a fifth of a millisecond per
-- search), a statement of its own once per connection.

CREATE OR REPLACE FUNCTION scheduling_search_claims(
    p_offerings bigint[], p_start timestamptz, p_end timestamptz, p_fingerprint boolean
) RETURNS TABLE (
    fingerprint text, offering_id bigint, starts_at timestamptz, ends_at timestamptz,
    vcpus integer, ram_mib integer, disk_gb integer, bandwidth_mbps integer
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_fingerprint THEN
        SELECT v.version::text INTO fingerprint FROM scheduling_catalogue_version v WHERE v.id = 1;
        fingerprint := coalesce(fingerprint, 'none');
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
