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
- the ``on_*`` hooks run after commit (``transaction.on_commit``) with the
  booking's id; they must be idempotent, as sweeps may also find the same work
  by state and time (Booking.state / start / end / preempt_deadline are indexed).

Register with the decorators or the ``register`` function, e.g.::

    from scheduling import hooks
    hooks.register("on_booking_confirmed", my_function)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import transaction

HOOK_NAMES = (
    # (renter, offering, profile, amount_minor, currency) -> None, raises DomainError to refuse
    "funds_check",
    # (booking_id) -> None, after commit: a booking was confirmed (fixed, dynamic, or auction win)
    "on_booking_confirmed",
    # (booking_id, reason) -> None, after commit: reason in released, preempted, completed, failed
    "on_booking_ended",
    # (booking_id) -> None, after commit: a preemption notice started (state notice, preempt_deadline set)
    "on_booking_notice",
    # (booking_id, clearing_price_minor) -> None, after commit: an auction bid won (booking is confirmed)
    "on_bid_won",
    # (booking_id) -> None, after commit: an auction bid lost (booking outbid, or rejected because the
    # funds check refused the win at clearing; Booking.state and .reason tell which)
    "on_bid_lost",
    # (booking, new_total_minor) -> None, inside the transaction before a booking's price changes
    # (profile change); raises DomainError to refuse a change the payer cannot be charged for
    "price_change_check",
    # (booking_id) -> None, after commit: a booking's profile (its claim) and price changed;
    # Booking.price_schedule (scheduling.services.price_schedule) says what each period costs
    "on_booking_changed",
    # (booking) -> {"samples": [...], "totals": {...}, "seconds_held": int}: what provisioning metered,
    # shown by GET /api/v1/timeslots/{id}/usage; read-only, called inside a request
    "usage_for_booking",
)

_registry: dict[str, list[Callable[..., Any]]] = {name: [] for name in HOOK_NAMES}


def register(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
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


def funds_check(renter: Any, offering: Any, profile: Any, amount: int, currency: str) -> None:
    """Ask every registered funds check; any may refuse by raising a DomainError."""
    for fn in _registry["funds_check"]:
        fn(renter, offering, profile, amount, currency)


def price_change_check(booking: Any, new_total: int) -> None:
    """Ask every registered price-change check; any may refuse by raising a DomainError."""
    for fn in _registry["price_change_check"]:
        fn(booking, new_total)


def usage_for_booking(booking: Any) -> dict[str, Any]:
    """Metered usage from the first registered provider (provisioning); empty until one is registered."""
    for fn in _registry["usage_for_booking"]:
        return dict(fn(booking) or {})
    return {"samples": [], "totals": {}, "seconds_held": None}


def fire_on_commit(name: str, *args: Any) -> None:
    """Call the hook's receivers once the current transaction commits (at once outside one)."""
    fns = _registry[name]
    if not fns:
        return
    for fn in list(fns):
        transaction.on_commit(partial(fn, *args))


def on_booking_confirmed(fn: Callable[[int], Any]) -> Callable[[int], Any]:
    return register("on_booking_confirmed", fn)


def on_booking_ended(fn: Callable[[int, str], Any]) -> Callable[[int, str], Any]:
    return register("on_booking_ended", fn)


def on_booking_notice(fn: Callable[[int], Any]) -> Callable[[int], Any]:
    return register("on_booking_notice", fn)


def on_bid_won(fn: Callable[[int, int], Any]) -> Callable[[int, int], Any]:
    return register("on_bid_won", fn)


def on_bid_lost(fn: Callable[[int], Any]) -> Callable[[int], Any]:
    return register("on_bid_lost", fn)


def on_booking_changed(fn: Callable[[int], Any]) -> Callable[[int], Any]:
    return register("on_booking_changed", fn)


def register_funds_check(fn: Callable[..., None]) -> Callable[..., None]:
    return register("funds_check", fn)


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
