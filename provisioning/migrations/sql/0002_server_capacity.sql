-- provisioning_server_capacity() (provisioning migration 0004): the servers the marketplace keeps on an
-- offering's cloud never need more than the offering's capacity.
--
-- Every live provisioning_server row (pending, building, active, resizing, transferring, standby,
-- wiping, deleting, error: anything that is or may be a server on the cloud) holds its resources on
-- its offering. A row that enters a live state, or grows, is refused when the live rows of the
-- offering would then sum to more than the offering's capacity in any resource: a launch ahead of a
-- slice (boot lead) or a refill of the standby pool waits until a server being wiped or deleted
-- (teardown) has gone. Handed-over and deleted rows hold nothing (a hand-over's new row carries the
-- same server). The bookings' own claims are scheduling_booking_capacity's; this one guards the cloud.
--
-- Serialised per offering by a transaction-level advisory lock (not the offering row, which the
-- booking path locks), taken before the sum; under READ COMMITTED the sum's statement then sees every
-- claimer that committed meanwhile. Immediate (not deferred), so a launch learns at once.
-- The refusal: SQLSTATE 23514, constraint ``provisioning_server_within_capacity``.

CREATE OR REPLACE FUNCTION provisioning_server_capacity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live text[] := ARRAY['pending', 'building', 'active', 'resizing', 'transferring', 'standby',
                         'wiping', 'deleting', 'error'];
    cap record;
    used record;
BEGIN
    IF NEW.offering_id IS NULL OR NOT (NEW.state = ANY (live)) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = ANY (live) AND OLD.offering_id = NEW.offering_id
       AND NEW.vcpus <= OLD.vcpus AND NEW.ram_mib <= OLD.ram_mib
       AND NEW.disk_gb <= OLD.disk_gb AND NEW.bandwidth_mbps <= OLD.bandwidth_mbps THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('provisioning_server_capacity'), NEW.offering_id::integer);
    SELECT o.vcpus, o.ram_mib, o.disk_gb, o.bandwidth_mbps INTO cap FROM owners_offering o WHERE o.id = NEW.offering_id;
    SELECT coalesce(sum(s.vcpus), 0) AS vcpus, coalesce(sum(s.ram_mib), 0) AS ram_mib,
           coalesce(sum(s.disk_gb), 0) AS disk_gb, coalesce(sum(s.bandwidth_mbps), 0) AS bandwidth_mbps,
           count(*) AS servers
      INTO used
      FROM provisioning_server s
     WHERE s.offering_id = NEW.offering_id AND s.state = ANY (live);
    IF used.vcpus > cap.vcpus OR used.ram_mib > cap.ram_mib
       OR used.disk_gb > cap.disk_gb OR used.bandwidth_mbps > cap.bandwidth_mbps THEN
        RAISE EXCEPTION USING
            ERRCODE = '23514',
            CONSTRAINT = 'provisioning_server_within_capacity',
            TABLE = 'provisioning_server',
            MESSAGE = format('The servers on offering %s would need more than its capacity '
                             '(%s servers: %s vCPU / %s MiB RAM / %s GB disk, capacity %s / %s / %s).',
                             NEW.offering_id, used.servers, used.vcpus, used.ram_mib, used.disk_gb,
                             cap.vcpus, cap.ram_mib, cap.disk_gb);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS provisioning_server_within_capacity ON provisioning_server;
CREATE TRIGGER provisioning_server_within_capacity
    AFTER INSERT OR UPDATE ON provisioning_server
    FOR EACH ROW EXECUTE FUNCTION provisioning_server_capacity();
