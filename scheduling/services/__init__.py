"""Writes of the market: request, quote, bid, confirm or reject, change profile, release, preempt, clear auctions.

One module per concern, each stating the rules it enforces:

- ``state``: the state machine (``_move``, ``booking_transition``) and the capacity helpers;
- ``resolve``: a slice id checked against the owner's rules into a request;
- ``booking``: requesting and buying a slice, releasing a booking;
- ``quotes``: dynamic prices held for a while; ``bids``: sealed auction bids;
- ``clearing``: serving the bids of rounds whose bidding has closed;
- ``profile_change``: moving a live booking to another profile (and undoing it);
- ``extension``: moving a live booking's end later, at the price in force;
- ``preemption``: owners taking capacity back after notice;
- ``ending``: bookings whose slice is over end at its end (completed or failed);
- ``prices``: the price history, recorded when a price changes, and its retention.

Every state change of a Booking goes through ``_move`` (a conditional
``UPDATE ... WHERE id = %s AND state = old`` whose row count says whether this
caller won) and is audited in the same transaction. Claims are created only
under the offering's row lock after the SQL peak check; the deferred trigger
``scheduling_booking_capacity`` refuses any claim that slips past (mapped to
SliceTaken, 409).

Lock order, to avoid deadlocks: auction round(s) -> booking(s) -> offering.

Callers import from here (``from scheduling import services``); the modules
import each other directly, never this package, so there is no import circle.
"""

from __future__ import annotations

from scheduling.pricing import PricePeriod, price_schedule
from scheduling.pricing import _reprice as _reprice
from scheduling.services.bids import _bid_place as _bid_place
from scheduling.services.booking import (
    TAKEN_REASON,
    CostPreview,
    booking_cost,
    booking_release,
    booking_release_preview,
    booking_request,
    booking_request_preview,
    dry_run,
    release_cost,
)
from scheduling.services.clearing import (
    CLEARING_BATCH_OFFERINGS,
    DEADLOCK_RETRIES,
    ClearingResult,
    auctions_clear_due,
)
from scheduling.services.ending import booking_end_due, bookings_end_due
from scheduling.services.extension import (
    AUCTION_REFUSAL,
    EXTENDABLE_STATES,
    EXTENDED,
    Extension,
    booking_extend,
)
from scheduling.services.feeds import booking_feed_rotate
from scheduling.services.preemption import (
    NoticePlan,
    booking_preempt,
    offering_preempt_all,
    preemption_preview,
    preemptions_end_due,
)
from scheduling.services.preemption import _end_preempted as _end_preempted
from scheduling.services.preemption import _give_notice as _give_notice
from scheduling.services.prices import PricePoint, price_history_prune, prices_record
from scheduling.services.profile_change import (
    CHANGEABLE_STATES,
    PROFILE_CHANGE_UNDONE,
    PROFILE_CHANGED,
    booking_change_profile,
    booking_change_profile_preview,
    booking_profile_change_undo,
)
from scheduling.services.quotes import quote_create
from scheduling.services.resolve import _Request as _Request
from scheduling.services.resolve import _request_fields as _request_fields
from scheduling.services.resolve import _require_renter as _require_renter
from scheduling.services.resolve import _resolve as _resolve
from scheduling.services.state import (
    CAPACITY_CONSTRAINT,
    ENDED,
    TRANSITIONS,
    booking_transition,
    is_capacity_violation,
    offering_peak,
)
from scheduling.services.state import S as S
from scheduling.services.state import _fits as _fits
from scheduling.services.state import _money as _money
from scheduling.services.state import _move as _move
from scheduling.services.state import _need as _need

__all__ = [
    "booking_feed_rotate",
    "AUCTION_REFUSAL",
    "EXTENDABLE_STATES",
    "EXTENDED",
    "Extension",
    "booking_extend",
    "NoticePlan",
    "preemption_preview",
    "CostPreview",
    "booking_cost",
    "booking_release_preview",
    "booking_request_preview",
    "dry_run",
    "release_cost",
    "booking_change_profile_preview",
    "CAPACITY_CONSTRAINT",
    "CHANGEABLE_STATES",
    "CLEARING_BATCH_OFFERINGS",
    "DEADLOCK_RETRIES",
    "ENDED",
    "PROFILE_CHANGED",
    "PROFILE_CHANGE_UNDONE",
    "TAKEN_REASON",
    "TRANSITIONS",
    "ClearingResult",
    "PricePeriod",
    "auctions_clear_due",
    "booking_end_due",
    "bookings_end_due",
    "booking_change_profile",
    "booking_preempt",
    "booking_profile_change_undo",
    "booking_release",
    "booking_request",
    "booking_transition",
    "is_capacity_violation",
    "offering_peak",
    "offering_preempt_all",
    "preemptions_end_due",
    "price_schedule",
    "quote_create",
    "PricePoint",
    "price_history_prune",
    "prices_record",
]
