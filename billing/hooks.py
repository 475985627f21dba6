"""Billing's own hook: who is told when a booking's card payment failed.

Billing's services know nothing of the market engine; the adapter (``billing/integration.py``)
registers the receiver that fails the booking. Receivers run after the payment's transaction
commits; one that raises is logged, and the sweep (``integration.sweep``) fails the booking later.
"""

from __future__ import annotations

import logging
from typing import Protocol

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
