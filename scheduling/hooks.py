"""Hooks the market engine offers to higher apps (billing, provisioning).

Scheduling may not import billing or provisioning; they register here in their
AppConfig.ready(). Two kinds of hooks:

- ``funds_check(renter, offering, profile, amount, currency)`` runs *inside* the
  booking transaction before a booking is confirmed, a bid accepted, an auction
  win confirmed at clearing, or a booking's price raised by a profile change
  (then ``amount`` is the extra). It must only read the database (no payment
  API call: never inside a transaction) and refuses by raising a
  marketplace.lib.errors.DomainError (e.g. ``DomainError("Add a payment method
  first.")`` or a PermissionDeniedError). It must be monotone: a check that
  passes for an amount passes for any smaller one (clearing relies on it).
  ``price_change_check(booking, new_total)`` also runs inside the transaction,
  before a booking's price changes, for a payer who cannot collect a new total
  (e.g. a card authorized for the old one).
- ``charge_preview(booking, end_at, outcome)`` only reads: what billing would charge for the
  booking were it to end at ``end_at`` with ``outcome`` (released, completed), computed by the
  function settlement charges with; the first receiver answers (None without one). Once the
  booking is settled it answers the amount actually charged. The portal and the API show it
  before a release or a profile change, and after.
- ``booking_events`` is the one *in-transaction* notification: its receivers are called at once,
  inside the transaction that changes a booking (every state move in ``state._move``, a bid placed
  or raised, the moves of an auction clearing), with a list of ``BookingEvent``. They may only
  write rows in the same database (an outbox: higher apps' webhooks), so that a rolled-back
  change reports nothing and a committed one is never lost; a receiver that raises rolls the
  change back, so it must not refuse. Register with ``register("booking_events", fn)``.
- the ``on_*`` hooks run after commit (``transaction.on_commit``) with the
  booking's id; they must be idempotent, as sweeps may also find the same work
  by state and time (Booking.state / start / end / preempt_deadline are indexed).

Each hook's signature is a Protocol below (receivers are called positionally);
``register`` and the decorators take receivers of that type, so mypy checks them.
Register with the decorators or the ``register`` function, e.g.::

    from scheduling import hooks
    hooks.register("on_booking_confirmed", my_function)

webhooks registers booking_events (its outbox). The extend service (issue 13 item 4) tells an
extension with ``booking_event(id, "extended", state, state, now, data={"ends_at": ..., "previous_ends_at":
..., "total_price": ...})`` inside its transaction.

Who registers today: billing (funds_check, price_change_check, charge_preview,
on_booking_confirmed, on_booking_changed, on_booking_ended) and provisioning
(on_booking_confirmed, on_booking_ended, usage_for_booking, public_images: the images a renter may
pick on an offering that allows any image). on_booking_notice,
on_bid_won and on_bid_lost have no receiver yet: they are extension points
(renter webhooks and notifications), fired as documented and tested in
tests/scheduling/test_hook_extension_points.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from django.db import transaction

if TYPE_CHECKING:
    from datetime import datetime

    from accounts.models import User
    from owners.models import Offering, SliceProfile
    from scheduling.models import Booking

# ---- each hook's signature (receivers are called positionally) ---------------------------------


@dataclass(frozen=True)
class BookingEvent:
    """One change of a booking, told inside its transaction (``booking_events``).

    ``kind``: ``transition`` (``from_state`` -> ``to_state``), ``bid_placed`` (a new bid: from ""
    to requested) or ``bid_raised`` (requested -> requested); ``data`` adds what the change knew
    (``bid``, ``clearing_price``, ``unit_price``, ``total_price``, the notice's ``deadline``).
    """

    booking_id: int
    kind: str
    from_state: str
    to_state: str
    at: datetime
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class BookingEvents(Protocol):
    """Inside the transaction of the change: write rows only (an outbox), never refuse."""

    def __call__(self, events: Sequence[BookingEvent], /) -> object: ...


class FundsCheck(Protocol):
    """Inside the transaction, before a booking is confirmed, a bid accepted, an auction win
    confirmed at clearing, or a price raised by a profile change (``amount``: the extra, minor
    units). Reads only; raises DomainError to refuse; monotone in ``amount``."""

    def __call__(
        self, renter: User, offering: Offering, profile: SliceProfile, amount: int, currency: str, /
    ) -> None: ...


class PriceChangeCheck(Protocol):
    """Inside the transaction, before a booking's price changes (profile change); raises DomainError
    to refuse a change the payer cannot be charged for."""

    def __call__(self, booking: Booking, new_total: int, /) -> None: ...


@dataclass(frozen=True)
class Preview:
    """What a booking costs if it ends as asked (minor units): ``amount`` charged of the ``held``
    (its price, held or authorized now); ``settled``: the charge was already made (the real one)."""

    amount: int
    currency: str
    held: int
    settled: bool = False

    @property
    def refund(self) -> int:
        """What returns to the renter of what is held (nothing is ever charged above it)."""
        return max(self.held - self.amount, 0)


class ChargePreview(Protocol):
    """Read-only: what the booking would be charged were it to end at ``end_at`` with ``outcome``
    (released, completed), by the same computation settlement uses; the real charge once settled."""

    def __call__(self, booking: Booking, end_at: datetime, outcome: str, /) -> Preview | None: ...


class OnBookingConfirmed(Protocol):
    """After commit: a booking was confirmed (fixed, dynamic, or auction win)."""

    def __call__(self, booking_id: int, /) -> object: ...


class OnBookingEnded(Protocol):
    """After commit: a booking ended; ``outcome`` is released, preempted, completed or failed."""

    def __call__(self, booking_id: int, outcome: str, /) -> object: ...


class OnBookingNotice(Protocol):
    """After commit: a preemption notice started (state notice, preempt_deadline set).

    provisioning moves the end step to the deadline (provisioning.hooks.booking_notice)."""

    def __call__(self, booking_id: int, /) -> object: ...


class OnBidWon(Protocol):
    """After commit: an auction bid won (the booking is confirmed) at ``clearing_price`` per grid unit.

    Extension point: no receiver in this project yet (webhooks and notifications will use it)."""

    def __call__(self, booking_id: int, clearing_price: int, /) -> object: ...


class OnBidLost(Protocol):
    """After commit: an auction bid lost (outbid, or rejected because the funds check refused the win
    at clearing; Booking.state and .reason tell which).

    Extension point: no receiver in this project yet (webhooks and notifications will use it)."""

    def __call__(self, booking_id: int, /) -> object: ...


class OnBookingChanged(Protocol):
    """After commit: a booking's profile (its claim) and price changed, or its end moved later (an
    extension); Booking.price_schedule
    (scheduling.pricing.price_schedule) says what each period costs."""

    def __call__(self, booking_id: int, /) -> object: ...


class UsageForBooking(Protocol):
    """Read-only, inside a request: what provisioning metered for GET /api/v1/timeslots/{id}/usage,
    {"samples": [...], "totals": {...}, "seconds_held": int}."""

    def __call__(self, booking: Booking, /) -> Mapping[str, Any] | None: ...


class PublicImages(Protocol):
    """Read-only: the names of the public images of the offering's cloud (for an offering that allows
    any image), or None when they cannot be listed now (the image is then checked at launch)."""

    def __call__(self, offering: Offering, /) -> list[str] | None: ...


HookName = Literal[
    "funds_check",
    "on_booking_confirmed",
    "on_booking_ended",
    "on_booking_notice",
    "on_bid_won",
    "on_bid_lost",
    "price_change_check",
    "on_booking_changed",
    "usage_for_booking",
    "charge_preview",
    "public_images",
    "booking_events",
]
HOOK_NAMES: tuple[HookName, ...] = (
    "funds_check",
    "on_booking_confirmed",
    "on_booking_ended",
    "on_booking_notice",
    "on_bid_won",
    "on_bid_lost",
    "price_change_check",
    "on_booking_changed",
    "usage_for_booking",
    "charge_preview",
    "public_images",
    "booking_events",
)

_registry: dict[str, list[Callable[..., Any]]] = {name: [] for name in HOOK_NAMES}


@overload
def register(name: Literal["funds_check"], fn: FundsCheck) -> FundsCheck: ...
@overload
def register(name: Literal["price_change_check"], fn: PriceChangeCheck) -> PriceChangeCheck: ...
@overload
def register(name: Literal["on_booking_confirmed"], fn: OnBookingConfirmed) -> OnBookingConfirmed: ...
@overload
def register(name: Literal["on_booking_ended"], fn: OnBookingEnded) -> OnBookingEnded: ...
@overload
def register(name: Literal["on_booking_notice"], fn: OnBookingNotice) -> OnBookingNotice: ...
@overload
def register(name: Literal["on_bid_won"], fn: OnBidWon) -> OnBidWon: ...
@overload
def register(name: Literal["on_bid_lost"], fn: OnBidLost) -> OnBidLost: ...
@overload
def register(name: Literal["on_booking_changed"], fn: OnBookingChanged) -> OnBookingChanged: ...
@overload
def register(name: Literal["usage_for_booking"], fn: UsageForBooking) -> UsageForBooking: ...
@overload
def register(name: Literal["charge_preview"], fn: ChargePreview) -> ChargePreview: ...
@overload
def register(name: Literal["public_images"], fn: PublicImages) -> PublicImages: ...
@overload
def register(name: Literal["booking_events"], fn: BookingEvents) -> BookingEvents: ...
def register(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add a receiver to a hook (once); mypy checks it against the hook's Protocol above."""
    if name not in _registry:
        raise ValueError(f"unknown scheduling hook {name!r}; known: {', '.join(HOOK_NAMES)}")
    if fn not in _registry[name]:
        _registry[name].append(fn)
    return fn


def unregister(name: str, fn: Callable[..., Any]) -> None:
    if fn in _registry.get(name, []):
        _registry[name].remove(fn)


def receivers(name: str) -> list[Callable[..., Any]]:
    return list(_registry[name])


def funds_check(renter: User, offering: Offering, profile: SliceProfile, amount: int, currency: str) -> None:
    """Ask every registered funds check; any may refuse by raising a DomainError."""
    for fn in _registry["funds_check"]:
        fn(renter, offering, profile, amount, currency)


def price_change_check(booking: Booking, new_total: int) -> None:
    """Ask every registered price-change check; any may refuse by raising a DomainError."""
    for fn in _registry["price_change_check"]:
        fn(booking, new_total)


def usage_for_booking(booking: Booking) -> dict[str, Any]:
    """Metered usage from the first registered provider (provisioning); empty until one is registered."""
    for fn in _registry["usage_for_booking"]:
        return dict(fn(booking) or {})
    return {"samples": [], "totals": {}, "seconds_held": None}


def charge_preview(booking: Booking, end_at: datetime, outcome: str) -> Preview | None:
    """What billing would charge the booking ending at ``end_at`` as ``outcome``; None if no receiver
    (the engine alone knows no money) or the receiver has no answer (no price yet)."""
    for fn in _registry["charge_preview"]:
        return fn(booking, end_at, outcome)
    return None


def public_images(offering: Offering) -> list[str] | None:
    """The offering's cloud's public images from the first registered provider (provisioning); None when
    nobody is registered or the cloud cannot list them now."""
    for fn in _registry["public_images"]:
        return fn(offering)
    return None


def booking_events(events: Sequence[BookingEvent]) -> None:
    """Tell the in-transaction receivers (an outbox) of these changes, now, in the caller's transaction."""
    if events:
        for fn in list(_registry["booking_events"]):
            fn(list(events))


def booking_event(booking_id: int, kind: str, from_state: str, to_state: str, at: datetime, **kw: Any) -> None:
    """One ``BookingEvent`` to the in-transaction receivers (see ``booking_events``)."""
    if _registry["booking_events"]:
        booking_events([BookingEvent(booking_id, kind, from_state, to_state, at, **kw)])


def fire_on_commit(name: str, *args: Any) -> None:
    """Call the hook's receivers once the current transaction commits (at once outside one)."""
    fns = _registry[name]
    if not fns:
        return
    for fn in list(fns):
        transaction.on_commit(partial(fn, *args))


# Decorators, one per after-commit hook, for receivers defined at module level.


def on_booking_confirmed(fn: OnBookingConfirmed) -> OnBookingConfirmed:
    return register("on_booking_confirmed", fn)


def on_booking_ended(fn: OnBookingEnded) -> OnBookingEnded:
    return register("on_booking_ended", fn)


def on_booking_notice(fn: OnBookingNotice) -> OnBookingNotice:
    return register("on_booking_notice", fn)


def on_bid_won(fn: OnBidWon) -> OnBidWon:
    return register("on_bid_won", fn)


def on_bid_lost(fn: OnBidLost) -> OnBidLost:
    return register("on_bid_lost", fn)


def on_booking_changed(fn: OnBookingChanged) -> OnBookingChanged:
    return register("on_booking_changed", fn)


@contextmanager
def isolated() -> Iterator[None]:
    """Run with an empty registry (the engine's own tests: no billing or provisioning reactions)."""
    global _registry
    saved = _registry
    _registry = {name: [] for name in HOOK_NAMES}
    try:
        yield
    finally:
        _registry = saved
