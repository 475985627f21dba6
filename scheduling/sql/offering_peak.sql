-- scheduling_offering_peak(offering, start, end): the peak concurrent use of each resource by
-- claiming bookings over [start, end) (migrations 0002, 0005).
--
-- The sum only changes at a booking's start, so the peak is the max over the start points (clipped
-- to the interval) of the sums of the bookings covering them. Services call it under the offering's
-- row lock before a claim; the deferred constraint trigger (booking_capacity.sql) calls it again for
-- every row that becomes (or changes as) a claim, after taking the same lock.
--
-- PL/pgSQL, not LANGUAGE sql: same query, same result, its plan cached per session. A LANGUAGE sql
-- function that is not inlined is planned again at every call; the peak runs twice per booking
-- (the check under the lock and the deferred capacity trigger at commit), and planning was most of
-- its cost: as PL/pgSQL it runs about 2.5 times as many calls per second.

CREATE OR REPLACE FUNCTION scheduling_offering_peak(
    p_offering bigint, p_start timestamptz, p_end timestamptz,
    OUT vcpus bigint, OUT ram_mib bigint, OUT disk_gb bigint, OUT bandwidth_mbps bigint
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT coalesce(max(s.v), 0), coalesce(max(s.r), 0), coalesce(max(s.d), 0), coalesce(max(s.bw), 0)
      INTO vcpus, ram_mib, disk_gb, bandwidth_mbps
      FROM (
        SELECT sum(b.vcpus) AS v, sum(b.ram_mib) AS r, sum(b.disk_gb) AS d, sum(b.bandwidth_mbps) AS bw
        FROM (
            SELECT DISTINCT greatest(o.starts_at, p_start) AS t
            FROM scheduling_booking o
            WHERE o.offering_id = p_offering AND o.state IN {{ CLAIMING_STATES }}
              AND tstzrange(o.starts_at, o.ends_at) && tstzrange(p_start, p_end)
        ) pts
        JOIN scheduling_booking b
          ON b.offering_id = p_offering AND b.state IN {{ CLAIMING_STATES }}
         AND tstzrange(b.starts_at, b.ends_at) @> pts.t
        GROUP BY pts.t
      ) s;
END
$$;
