"""The charge arithmetic: what a booking that ended costs, its short-notice credit, the platform fee.

Pure functions of their arguments and settings (no database access): settlement reads the facts and the
policy, then calls these. Every proration goes through ``marketplace.lib.money.prorate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.conf import settings

from marketplace.lib.money import prorate

if TYPE_CHECKING:
    from billing.models import BookingCharge


@dataclass(frozen=True)
class BookingEnd:
    """How a booking ended. ``held_until``: when the renter's hold on the server stopped.

    ``outcome`` is one of completed, released, preempted, failed, rejected.
    For a preemption, ``notice_given_at`` and ``notice_deadline`` are when the owner gave notice and the
    deadline it set. From provisioning's metering: ``server_held_from`` / ``server_reclaimed_at`` bound the
    time the renter actually held a server (charged time never starts before it nor runs after it), and
    ``server_never_held`` says servers were launched for the booking but none ever reached the renter.
    """

    outcome: str
    held_until: datetime | None = None
    notice_given_at: datetime | None = None
    notice_deadline: datetime | None = None
    server_reclaimed_at: datetime | None = None
    server_held_from: datetime | None = None
    server_never_held: bool = False
    # (from, to, amount) when the price changed during the booking (a profile change): each part is
    # charged at its own price. Empty: one price for the whole slice.
    price_schedule: tuple[tuple[datetime, datetime, int], ...] = ()


def fee_basis_points() -> int:
    try:
        bps = Decimal(str(settings.PLATFORM_FEE_PERCENT)) * 100
    except InvalidOperation as exc:
        raise ValueError("PLATFORM_FEE_PERCENT must be a number") from exc
    if bps != bps.to_integral_value() or not 0 <= bps <= 10000:
        raise ValueError("PLATFORM_FEE_PERCENT must be 0-100 with at most two decimals")
    return int(bps)


def platform_fee(charge: int) -> int:
    return prorate(charge, fee_basis_points(), 10000)


def compute_charge(charge: BookingCharge, end: BookingEnd, *, credit_percent: int) -> tuple[int, int, int]:
    """(used seconds, charge, short-notice credit) for a booking that ended as ``end`` says.

    Per-second proration of the slice price, through marketplace.lib.money.prorate only.
    """
    c = charge
    slice_seconds = c.slice_seconds
    if end.outcome in ("failed", "rejected") or end.server_never_held:
        return 0, 0, 0
    stop = c.ends_at
    begin = c.starts_at
    if end.server_held_from is not None:
        begin = max(begin, end.server_held_from)  # not charged while the server was still being built
    if end.outcome == "released" and end.held_until is not None:
        stop = min(stop, end.held_until)
    if end.outcome == "preempted":
        deadline = end.notice_deadline or end.held_until or c.ends_at
        stop = min(stop, deadline)
    if end.server_reclaimed_at is not None:
        stop = min(stop, end.server_reclaimed_at)  # never charge for time after the server was reclaimed
    used = max(0, min(slice_seconds, int((stop - begin).total_seconds())))
    if (end.outcome == "released" and c.release_charge == "full") or used >= slice_seconds:
        amount = c.price
    elif end.price_schedule:
        amount = min(c.price, _schedule_value(end.price_schedule, begin, stop))
    else:
        amount = prorate(c.price, used, slice_seconds)
    credit = 0
    if end.outcome == "preempted" and end.notice_given_at is not None:
        promised = c.promised_notice_seconds
        deadline = end.notice_deadline or stop
        given = max(0, int((deadline - end.notice_given_at).total_seconds()))
        lost = max(0, int((c.ends_at - deadline).total_seconds()))
        short = max(0, min(promised - given, lost))
        if short:
            if end.price_schedule:  # the time lost after the deadline, at the price it would have cost
                window = (deadline, deadline + timedelta(seconds=short))
                credit = _schedule_value(end.price_schedule, *window, percent=credit_percent)
            else:
                credit = prorate(c.price, short * credit_percent, slice_seconds * 100)
    return used, amount, credit


def _schedule_value(
    schedule: tuple[tuple[datetime, datetime, int], ...], start: datetime, stop: datetime, *, percent: int = 100
) -> int:
    """``percent`` of what [start, stop) costs under a price schedule: each part prorated per second."""
    total = 0
    for begin, end, amount in schedule:
        overlap = int((min(end, stop) - max(begin, start)).total_seconds())
        length = int((end - begin).total_seconds())
        if overlap > 0 and length > 0:
            total += prorate(amount, overlap * percent, length * 100)
    return total
