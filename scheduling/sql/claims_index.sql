-- scheduling_booking_claims: the claiming bookings of each offering by period (migration 0002).
--
-- The partial GiST index behind every capacity read: scheduling_offering_peak, the capacity
-- triggers, the offering capacity guard and scheduling_search_claims all filter on exactly this
-- predicate, so that the planner can use it. Re-running this file rebuilds the index.

DROP INDEX IF EXISTS scheduling_booking_claims;
CREATE INDEX scheduling_booking_claims ON scheduling_booking
    USING gist (offering_id, tstzrange(starts_at, ends_at))
    WHERE state IN {{ CLAIMING_STATES }};
