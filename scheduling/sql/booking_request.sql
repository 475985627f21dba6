-- scheduling_booking_request(): one database call per booking (migrations 0004, 0010, 0011, 0013, 0014, 0015).
--
-- booking_request used to spend ~10 round trips and ~5 ms of ORM work per booking (BEGIN, lock,
-- INSERT, audit INSERT, peak, UPDATE, audit INSERT, price history, COMMIT). This function does the
-- same steps server-side, in the caller's transaction (or in the statement's own one, with the
-- deferred capacity trigger still run at its commit):
--
-- 1. lock the offering (FOR NO KEY UPDATE, as the trigger does);
-- 2. check the catalogue version its caller priced the slice from (p_version, NULL skips it):
--    a process keeps the catalogue entries it has read (the offering, its price for the profile,
--    its availability windows), tagged with the catalogue version they were read at
--    (catalogue_version.sql), and passes that version in. Under the offering's row lock (so an
--    owner's edit of the offering row has committed or not started) it is compared with the
--    current one; if they differ nothing is written and the status is 'stale': the caller reads
--    the entry again and retries. The rules checked in Python (status, windows, lengths, images,
--    price) therefore always come from the catalogue as it is when the booking is written;
-- 3. re-read the offering's status; not published: nothing is written, the status is returned;
-- 4. peak use over the period (scheduling_offering_peak, the same SQL check);
-- 5. record the booking and its ``booking.requested`` audit event;
-- 6. with ``p_unit`` given (the caller already knows the price and has no funds check to ask):
--    decide here: fits -> confirmed (+ ``booking.confirmed`` event and a price-history row), else
--    rejected (+ ``booking.rejected`` event). Without it the booking stays requested and the
--    caller decides (dynamic prices, quotes, billing's funds check) through services._move.
--
-- The renter's user-data arrives encrypted (marketplace.lib.crypto) and is stored as given; it is never
-- part of an audit event. Its SSH source ranges were checked in Python (scheduling.services.access).
-- Without user-data (p_need_key) the renter must have an SSH key on file, checked first, in the same
-- call (no round trip of its own): else the status is 'no_login' and nothing is written.
--
-- The booking row is written once, in its decided state (the requested -> decided move happens
-- inside one transaction, so nobody could have seen it in between); both audit events are written,
-- through audit's one SQL writer, audit_record_event() (audit/sql/record_event.sql, migration 0013).
-- The deferred constraint trigger scheduling_booking_capacity (booking_capacity.sql) stays the
-- backstop for every claim; after inserting a confirmed booking, checked here under the offering's
-- row lock held until commit, the function adds its (offering, period) key to the trigger's
-- per-transaction memo, exactly as the trigger does after its own check, so the trigger does not
-- check the same claim again at commit (a second lock and peak query, about a tenth of a booking's
-- database time). Any later write to bookings in the transaction clears the memo.

CREATE OR REPLACE FUNCTION scheduling_booking_request(
    p_renter bigint, p_offering bigint, p_profile bigint, p_model text,
    p_starts timestamptz, p_ends timestamptz,
    p_vcpus integer, p_ram_mib integer, p_disk_gb integer, p_bandwidth_mbps integer,
    p_image text, p_grid integer, p_currency text, p_quote uuid, p_now timestamptz,
    p_unit bigint, p_units integer, p_reject_reason text,
    p_audit jsonb, p_requested jsonb, p_version bigint,
    p_user_data_encrypted text, p_ssh_cidrs varchar[], p_need_key boolean,
    OUT booking_id bigint, OUT status text, OUT state text,
    OUT vcpus bigint, OUT ram_mib bigint, OUT disk_gb bigint, OUT bandwidth_mbps bigint,
    OUT cap_vcpus bigint, OUT cap_ram_mib bigint, OUT cap_disk_gb bigint, OUT cap_bandwidth_mbps bigint
) LANGUAGE plpgsql AS $$
DECLARE
    cap record;
    fits boolean;
    v_total bigint;
    v_actor bigint := (p_audit->>'actor_id')::bigint;
    v_label text := coalesce(p_audit->>'actor_label', '');
    v_type integer := (p_audit->>'target_type_id')::integer;
    v_request text := coalesce(p_audit->>'request_id', '');
    v_ip inet := (p_audit->>'ip')::inet;
    v_source text := coalesce(p_audit->>'source', 'system');
BEGIN
    IF p_need_key AND NOT EXISTS (SELECT 1 FROM renters_sshpublickey k WHERE k.user_id = p_renter) THEN
        -- No user-data and no SSH key on file: nobody could log into the server. Nothing is written.
        status := 'no_login';
        RETURN;
    END IF;
    -- Sellable capacity: the standby servers' share (owners.StandbyPool) is not for sale.
    SELECT o.status, o.vcpus - o.standby_vcpus AS vcpus, o.ram_mib - o.standby_ram_mib AS ram_mib,
           o.disk_gb - o.standby_disk_gb AS disk_gb, o.bandwidth_mbps - o.standby_bandwidth_mbps AS bandwidth_mbps
      INTO cap
      FROM owners_offering o WHERE o.id = p_offering FOR NO KEY UPDATE;
    IF p_version IS NOT NULL
       AND p_version IS DISTINCT FROM (SELECT v.version FROM scheduling_catalogue_version v WHERE v.id = 1) THEN
        -- The caller's entry is older than the catalogue: nothing is written; it reads again and retries.
        status := 'stale';
        RETURN;
    END IF;
    status := cap.status;
    cap_vcpus := cap.vcpus;
    cap_ram_mib := cap.ram_mib;
    cap_disk_gb := cap.disk_gb;
    cap_bandwidth_mbps := cap.bandwidth_mbps;
    IF cap.status IS DISTINCT FROM 'published' THEN
        RETURN;
    END IF;
    SELECT p.vcpus, p.ram_mib, p.disk_gb, p.bandwidth_mbps INTO vcpus, ram_mib, disk_gb, bandwidth_mbps
      FROM scheduling_offering_peak(p_offering, p_starts, p_ends) p;
    state := 'requested';
    IF p_unit IS NOT NULL THEN
        fits := vcpus + p_vcpus <= cap.vcpus AND ram_mib + p_ram_mib <= cap.ram_mib
            AND disk_gb + p_disk_gb <= cap.disk_gb AND bandwidth_mbps + p_bandwidth_mbps <= cap.bandwidth_mbps;
        state := CASE WHEN fits THEN 'confirmed' ELSE 'rejected' END;
        v_total := CASE WHEN fits THEN p_unit * p_units END;
    END IF;
    INSERT INTO scheduling_booking (
        renter_id, offering_id, profile_id, pricing_model, state, starts_at, ends_at,
        vcpus, ram_mib, disk_gb, bandwidth_mbps, image, grid_seconds, currency,
        unit_price, total_price, quote_id, reason, created_at, updated_at, confirmed_at,
        user_data_encrypted, ssh_cidrs
    ) VALUES (
        p_renter, p_offering, p_profile, p_model, state, p_starts, p_ends,
        p_vcpus, p_ram_mib, p_disk_gb, p_bandwidth_mbps, p_image, p_grid, p_currency,
        CASE WHEN state = 'confirmed' THEN p_unit END, v_total, p_quote,
        CASE WHEN state = 'rejected' THEN left(p_reject_reason, 300) ELSE '' END,
        p_now, p_now, CASE WHEN state = 'confirmed' THEN p_now END,
        coalesce(p_user_data_encrypted, ''), coalesce(p_ssh_cidrs, '{}')
    ) RETURNING id INTO booking_id;
    IF state = 'confirmed' THEN
        -- Checked above under the offering's lock, held until commit: the deferred trigger may skip it.
        -- Same key as scheduling_booking_capacity_check(); the INSERT's statement trigger ran already.
        PERFORM set_config('scheduling.capacity_checked',
            coalesce(current_setting('scheduling.capacity_checked', true), '') || '|' || p_offering || '/'
            || extract(epoch FROM p_starts) || '/' || extract(epoch FROM p_ends) || '|', true);
    END IF;
    PERFORM audit_record_event(
        p_now, v_actor, v_label, 'booking.requested', v_type, booking_id::text,
        format('booking %s (requested)', booking_id), p_requested, v_request, v_ip, v_source
    );
    IF state = 'confirmed' THEN
        PERFORM audit_record_event(
            p_now, v_actor, v_label, 'booking.confirmed', v_type, booking_id::text,
            format('booking %s (confirmed)', booking_id),
            jsonb_build_object('from', 'requested', 'to', 'confirmed', 'unit_price', p_unit,
                               'total_price', v_total, 'currency', p_currency),
            v_request, v_ip, v_source
        );
        INSERT INTO scheduling_pricehistory (offering_id, profile_id, at, unit_price, currency, utilisation, source)
        VALUES (p_offering, p_profile, p_now, p_unit, p_currency, NULL, p_model);
    ELSIF state = 'rejected' THEN
        PERFORM audit_record_event(
            p_now, v_actor, v_label, 'booking.rejected', v_type, booking_id::text,
            format('booking %s (rejected)', booking_id),
            jsonb_build_object('from', 'requested', 'to', 'rejected', 'reason', p_reject_reason),
            v_request, v_ip, v_source
        );
    END IF;
END
$$;

