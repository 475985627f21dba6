"""Billing's own hooks: who is told when a booking's card payment failed; money news told in-transaction.

Billing's services know nothing of the market engine; the adapter (``billing/integration.py``)
registers the receiver that fails the booking. Receivers run after the payment's transaction
commits; one that raises is logged, and the sweep (``integration.sweep``) fails the booking later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from marketplace.lib import clock

log = logging.getLogger(__name__)


class BookingPaymentFailed(Protocol):
    def __call__(self, booking_id: int, message: str) -> None: ...


_payment_failed: list[BookingPaymentFailed] = []


def on_booking_payment_failed(receiver: BookingPaymentFailed) -> None:
    """Register a receiver; registering the same one again changes nothing."""
    if receiver not in _payment_failed:
        _payment_failed.append(receiver)


def booking_payment_failed(booking_id: int, message: str) -> None:
    """Tell every receiver that the card payment of ``booking_id`` failed (declined: ``message``)."""
    for receiver in list(_payment_failed):
        try:
            receiver(booking_id, message)
        except Exception:
            log.warning("booking %s: payment failed, engine not told yet", booking_id, exc_info=True)


# ---- in-transaction events (an outbox: higher apps' webhooks) -----------------------------------


@dataclass(frozen=True)
class BillingEvent:
    """Money news for one user, told inside the transaction that records it.

    ``kind``: ``charge_computed`` (a booking's final charge: ``data`` has amount, currency, outcome,
    used_seconds, credit), ``payment_failed`` (amount, currency, message; ``booking_id`` for a card
    payment of one booking), ``payout_paid`` (the owner's payout: amount, currency, payout),
    ``balance_low`` (available, threshold, currency), ``spend_limit_reached`` (a hold took the month's
    spending past 90 % of the renter's limit: spent, limit, currency; ``booking_id`` of that hold).
    """

    kind: str
    user_id: int
    at: datetime
    booking_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


class BillingEventReceiver(Protocol):
    """Called inside the caller's transaction; writes rows only (an outbox) and never refuses."""

    def __call__(self, event: BillingEvent, /) -> object: ...


_in_transaction: list[BillingEventReceiver] = []


def on_billing_event(receiver: BillingEventReceiver) -> BillingEventReceiver:
    """Register an in-transaction receiver (higher apps, in AppConfig.ready()); once."""
    if receiver not in _in_transaction:
        _in_transaction.append(receiver)
    return receiver


def off_billing_event(receiver: BillingEventReceiver) -> None:
    if receiver in _in_transaction:
        _in_transaction.remove(receiver)


def wants_billing_events() -> bool:
    """True when someone listens (a caller may skip computing what only a receiver would read)."""
    return bool(_in_transaction)


def billing_event(kind: str, *, user_id: int, booking_id: int | None = None, **data: Any) -> None:
    """Tell the in-transaction receivers now (a receiver's error rolls the caller back: they must not fail)."""
    if _in_transaction:
        event = BillingEvent(kind, user_id, clock.now(), booking_id, data)
        for receiver in list(_in_transaction):
            receiver(event)
