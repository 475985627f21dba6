"""The no-overbooking backstop, in PostgreSQL.

scheduling_offering_peak(offering, start, end) is the peak concurrent use of
each resource by claiming bookings over [start, end): the sum only changes at
a booking's start, so the peak is the max over the start points (clipped to
the interval) of the sums of the bookings covering them. Services call it
under the offering's row lock before a claim; the deferred constraint trigger
calls it again for every row that becomes (or changes as) a claim, after
taking the same lock, so that even code that forgets the lock cannot commit
an overbooking. It raises SQLSTATE 23P01 with constraint name
scheduling_booking_capacity, which the services turn into a 409.
"""

from django.db import migrations

CLAIMING = "('confirmed', 'provisioning', 'running', 'notice')"

FORWARD = f"""
CREATE SEQUENCE scheduling_bid_arrival_seq;

CREATE INDEX scheduling_booking_claims ON scheduling_booking
    USING gist (offering_id, tstzrange(starts_at, ends_at))
    WHERE state IN {CLAIMING};

CREATE FUNCTION scheduling_offering_peak(
    p_offering bigint, p_start timestamptz, p_end timestamptz,
    OUT vcpus bigint, OUT ram_mib bigint, OUT disk_gb bigint, OUT bandwidth_mbps bigint
) LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(s.v), 0), coalesce(max(s.r), 0), coalesce(max(s.d), 0), coalesce(max(s.bw), 0)
    FROM (
        SELECT sum(b.vcpus) AS v, sum(b.ram_mib) AS r, sum(b.disk_gb) AS d, sum(b.bandwidth_mbps) AS bw
        FROM (
            SELECT DISTINCT greatest(o.starts_at, p_start) AS t
            FROM scheduling_booking o
            WHERE o.offering_id = p_offering AND o.state IN {CLAIMING}
              AND tstzrange(o.starts_at, o.ends_at) && tstzrange(p_start, p_end)
        ) pts
        JOIN scheduling_booking b
          ON b.offering_id = p_offering AND b.state IN {CLAIMING}
         AND tstzrange(b.starts_at, b.ends_at) @> pts.t
        GROUP BY pts.t
    ) s
$$;

CREATE FUNCTION scheduling_booking_capacity_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap record;
    peak record;
    key text;
    checked text;
BEGIN
    -- At commit every queued event is judged against the final rows: one check per (offering, period)
    -- is enough, because we hold the offering's lock from the first check on and any later change
    -- to claims in this transaction clears the memo (statement trigger below).
    key := NEW.offering_id || '/' || extract(epoch FROM NEW.starts_at) || '/' || extract(epoch FROM NEW.ends_at);
    checked := coalesce(current_setting('scheduling.capacity_checked', true), '');
    IF strpos(checked, '|' || key || '|') > 0 THEN
        RETURN NULL;
    END IF;
    -- Serialise with every other claimer of this offering (NO KEY UPDATE: it must not conflict with
    -- the KEY SHARE locks that inserting bookings take through the foreign key, or two claimers
    -- would deadlock); the next statement takes a fresh snapshot (READ COMMITTED), so it sees the
    -- claims of transactions that committed meanwhile.
    SELECT o.vcpus, o.ram_mib, o.disk_gb, o.bandwidth_mbps INTO cap
      FROM owners_offering o WHERE o.id = NEW.offering_id FOR NO KEY UPDATE;
    SELECT * INTO peak FROM scheduling_offering_peak(NEW.offering_id, NEW.starts_at, NEW.ends_at);
    IF peak.vcpus > cap.vcpus OR peak.ram_mib > cap.ram_mib
       OR peak.disk_gb > cap.disk_gb OR peak.bandwidth_mbps > cap.bandwidth_mbps THEN
        RAISE EXCEPTION USING
            ERRCODE = '23P01',
            CONSTRAINT = 'scheduling_booking_capacity',
            MESSAGE = format('Offering %s would be over capacity between %s and %s '
                             '(peak %s vCPU / %s MiB RAM / %s GB disk / %s Mbit/s, capacity %s / %s / %s / %s).',
                             NEW.offering_id, NEW.starts_at, NEW.ends_at,
                             peak.vcpus, peak.ram_mib, peak.disk_gb, peak.bandwidth_mbps,
                             cap.vcpus, cap.ram_mib, cap.disk_gb, cap.bandwidth_mbps);
    END IF;
    PERFORM set_config('scheduling.capacity_checked', checked || '|' || key || '|', true);
    RETURN NULL;
END
$$;

CREATE FUNCTION scheduling_booking_capacity_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('scheduling.capacity_checked', '', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER scheduling_booking_capacity_forget
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_booking
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_booking_capacity_forget();

CREATE CONSTRAINT TRIGGER scheduling_booking_capacity_ins
    AFTER INSERT ON scheduling_booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.state IN {CLAIMING})
    EXECUTE FUNCTION scheduling_booking_capacity_check();

CREATE CONSTRAINT TRIGGER scheduling_booking_capacity_upd
    AFTER UPDATE ON scheduling_booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (
        NEW.state IN {CLAIMING} AND (
            OLD.state NOT IN {CLAIMING}
            OR OLD.offering_id <> NEW.offering_id
            OR OLD.starts_at <> NEW.starts_at OR OLD.ends_at <> NEW.ends_at
            OR OLD.vcpus <> NEW.vcpus OR OLD.ram_mib <> NEW.ram_mib
            OR OLD.disk_gb <> NEW.disk_gb OR OLD.bandwidth_mbps <> NEW.bandwidth_mbps))
    EXECUTE FUNCTION scheduling_booking_capacity_check();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS scheduling_booking_capacity_upd ON scheduling_booking;
DROP TRIGGER IF EXISTS scheduling_booking_capacity_forget ON scheduling_booking;
DROP FUNCTION IF EXISTS scheduling_booking_capacity_forget();
DROP TRIGGER IF EXISTS scheduling_booking_capacity_ins ON scheduling_booking;
DROP FUNCTION IF EXISTS scheduling_booking_capacity_check();
DROP FUNCTION IF EXISTS scheduling_offering_peak(bigint, timestamptz, timestamptz);
DROP INDEX IF EXISTS scheduling_booking_claims;
DROP SEQUENCE IF EXISTS scheduling_bid_arrival_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
