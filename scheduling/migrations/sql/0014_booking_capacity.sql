-- The no-overbooking backstop, in PostgreSQL (migrations 0002, 0010).
--
-- scheduling_booking_capacity_check(): a deferred constraint trigger on bookings, run at commit for
-- every row that becomes (or changes as) a claim. It takes the offering's row lock, the one the
-- services take before a claim, and checks the peak (offering_peak.sql) against the capacity, so
-- that even code that forgets the lock cannot commit an overbooking. It raises SQLSTATE 23P01 with
-- constraint name scheduling_booking_capacity, which the services turn into a 409.
--
-- Memo: the (offering, period) keys already checked in this transaction are kept in the setting
-- scheduling.capacity_checked; scheduling_booking_request() adds the key of a booking it checked
-- under the lock itself, so the trigger skips it. scheduling_booking_capacity_forget() clears the
-- memo after every statement that writes bookings, so a claim added afterwards, by any path, is
-- checked at commit with everything else.

CREATE OR REPLACE FUNCTION scheduling_booking_capacity_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- What is for sale: the capacity minus what the standby servers hold back (owners.StandbyPool).
    SELECT o.vcpus - o.standby_vcpus AS vcpus, o.ram_mib - o.standby_ram_mib AS ram_mib,
           o.disk_gb - o.standby_disk_gb AS disk_gb, o.bandwidth_mbps - o.standby_bandwidth_mbps AS bandwidth_mbps
      INTO cap
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

CREATE OR REPLACE FUNCTION scheduling_booking_capacity_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('scheduling.capacity_checked', '', true);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS scheduling_booking_capacity_forget ON scheduling_booking;
CREATE TRIGGER scheduling_booking_capacity_forget
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_booking
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_booking_capacity_forget();

DROP TRIGGER IF EXISTS scheduling_booking_capacity_ins ON scheduling_booking;
CREATE CONSTRAINT TRIGGER scheduling_booking_capacity_ins
    AFTER INSERT ON scheduling_booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.state IN ('confirmed', 'provisioning', 'running', 'notice'))
    EXECUTE FUNCTION scheduling_booking_capacity_check();

DROP TRIGGER IF EXISTS scheduling_booking_capacity_upd ON scheduling_booking;
CREATE CONSTRAINT TRIGGER scheduling_booking_capacity_upd
    AFTER UPDATE ON scheduling_booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (
        NEW.state IN ('confirmed', 'provisioning', 'running', 'notice') AND (
            OLD.state NOT IN ('confirmed', 'provisioning', 'running', 'notice')
            OR OLD.offering_id <> NEW.offering_id
            OR OLD.starts_at <> NEW.starts_at OR OLD.ends_at <> NEW.ends_at
            OR OLD.vcpus <> NEW.vcpus OR OLD.ram_mib <> NEW.ram_mib
            OR OLD.disk_gb <> NEW.disk_gb OR OLD.bandwidth_mbps <> NEW.bandwidth_mbps))
    EXECUTE FUNCTION scheduling_booking_capacity_check();
