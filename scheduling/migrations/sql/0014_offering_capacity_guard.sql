-- scheduling_offering_capacity_guard() (migration 0007): the other half of the no-overbooking
-- backstop, an offering's capacity may not shrink below its claims.
--
-- scheduling_booking_capacity (booking_capacity.sql) refuses a claim that would exceed the capacity; this deferred
-- constraint trigger on owners_offering refuses the opposite move, a capacity lowered (by the owner
-- portal, the admin, or plain SQL) below what live claims hold at some instant from now on.
--
-- Locking: the trigger takes the offering row FOR NO KEY UPDATE, the lock the booking path takes
-- first (scheduling_booking_request) and the booking trigger takes at commit. The UPDATE that
-- shrinks the offering already holds that lock until commit, so a booking racing the shrink either
-- committed before it (and this check, in a fresh READ COMMITTED snapshot, sees it) or waits for it
-- (and then reads the new capacity). Capacity is re-read from the row rather than taken from NEW, so
-- that at commit every queued event is judged against the final row (shrink-then-grow passes).
--
-- "From now on" is the application's clock when the caller has set ``marketplace.now`` in the
-- transaction (owners.services does, so the check agrees with clock.now() under time-machine), else
-- the database's now().
--
-- The refusal: SQLSTATE 23514 with constraint name ``owners_offering_capacity_covers_claims`` (the
-- table it guards), a MESSAGE written for the owner, and a DETAIL holding a JSON object
-- {field: message} naming each capacity field at fault, so that any caller can show it as field
-- errors without knowing anything of bookings (owners.services does exactly that).
--
-- The trigger names no column in its definition (no UPDATE OF, no WHEN): those would make
-- PostgreSQL refuse a later owners migration that alters a capacity column's type. The function
-- returns at once for an update that shrinks nothing.

CREATE OR REPLACE FUNCTION scheduling_offering_capacity_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap record;
    hit record;
    v_from timestamptz := coalesce(nullif(current_setting('marketplace.now', true), '')::timestamptz, now());
    v_at text;
    parts text[] := '{}';
    fields jsonb := '{}';
    part text;
BEGIN
    -- Sellable capacity (the capacity minus what standby servers hold back) is what claims may use.
    IF NEW.vcpus - NEW.standby_vcpus >= OLD.vcpus - OLD.standby_vcpus
       AND NEW.ram_mib - NEW.standby_ram_mib >= OLD.ram_mib - OLD.standby_ram_mib
       AND NEW.disk_gb - NEW.standby_disk_gb >= OLD.disk_gb - OLD.standby_disk_gb
       AND NEW.bandwidth_mbps - NEW.standby_bandwidth_mbps >= OLD.bandwidth_mbps - OLD.standby_bandwidth_mbps THEN
        RETURN NULL;
    END IF;
    SELECT o.vcpus - o.standby_vcpus AS vcpus, o.ram_mib - o.standby_ram_mib AS ram_mib,
           o.disk_gb - o.standby_disk_gb AS disk_gb, o.bandwidth_mbps - o.standby_bandwidth_mbps AS bandwidth_mbps
      INTO cap
      FROM owners_offering o WHERE o.id = NEW.id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted later in the same transaction
    END IF;
    -- The first instant from v_from on where the claims covering it exceed the capacity (claims
    -- only grow at a booking's start, so the start points, clipped to v_from, are enough).
    SELECT pts.t, sum(b.vcpus) AS v, sum(b.ram_mib) AS r, sum(b.disk_gb) AS d, sum(b.bandwidth_mbps) AS bw
      INTO hit
      FROM (
          SELECT DISTINCT greatest(o.starts_at, v_from) AS t
            FROM scheduling_booking o
           WHERE o.offering_id = NEW.id AND o.state IN ('confirmed', 'provisioning', 'running', 'notice')
             AND tstzrange(o.starts_at, o.ends_at) && tstzrange(v_from, 'infinity')
      ) pts
      JOIN scheduling_booking b
        ON b.offering_id = NEW.id AND b.state IN ('confirmed', 'provisioning', 'running', 'notice')
       AND tstzrange(b.starts_at, b.ends_at) @> pts.t
     GROUP BY pts.t
    HAVING sum(b.vcpus) > cap.vcpus OR sum(b.ram_mib) > cap.ram_mib
        OR sum(b.disk_gb) > cap.disk_gb OR sum(b.bandwidth_mbps) > cap.bandwidth_mbps
     ORDER BY pts.t
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_at := to_char(hit.t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC';
    IF hit.v > cap.vcpus THEN
        part := hit.v || ' vCPU';
        parts := parts || part;
        fields := fields || jsonb_build_object('vcpus', format(
            'Capacity cannot go below what current bookings hold: %s booked at %s.', part, v_at));
    END IF;
    IF hit.r > cap.ram_mib THEN
        part := hit.r || ' MiB RAM';
        parts := parts || part;
        fields := fields || jsonb_build_object('ram_mib', format(
            'Capacity cannot go below what current bookings hold: %s booked at %s.', part, v_at));
    END IF;
    IF hit.d > cap.disk_gb THEN
        part := hit.d || ' GB disk';
        parts := parts || part;
        fields := fields || jsonb_build_object('disk_gb', format(
            'Capacity cannot go below what current bookings hold: %s booked at %s.', part, v_at));
    END IF;
    IF hit.bw > cap.bandwidth_mbps THEN
        part := hit.bw || ' Mbit/s bandwidth';
        parts := parts || part;
        fields := fields || jsonb_build_object('bandwidth_mbps', format(
            'Capacity cannot go below what current bookings hold: %s booked at %s.', part, v_at));
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = '23514',
        CONSTRAINT = 'owners_offering_capacity_covers_claims',
        TABLE = 'owners_offering',
        MESSAGE = format('Capacity cannot go below what current bookings hold: %s booked at %s (offering %s).',
                         array_to_string(parts, ', '), v_at, NEW.id),
        DETAIL = fields::text;
END
$$;

DROP TRIGGER IF EXISTS owners_offering_capacity_covers_claims ON owners_offering;
CREATE CONSTRAINT TRIGGER owners_offering_capacity_covers_claims
    AFTER UPDATE ON owners_offering
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION scheduling_offering_capacity_guard();
