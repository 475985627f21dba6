"""Prices: dynamic (base × surge(utilisation), clamped to floor and cap) and a booking's price schedule.

A booking costs one price for its whole period unless its profile was changed: then each part
keeps the unit price it was used at (``PricePeriod``), and the amounts sum to its total price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marketplace.lib.money import prorate
from owners.models import PricingPolicy, validate_surge_curve
from scheduling.models import Booking

_SCALE = 1_000_000  # surge multipliers are applied with 6 decimal places


def surge_multiplier(curve: object, utilisation_pct: float) -> float:
    """Piecewise-linear multiplier between the curve's points; flat beyond the first and last point."""
    points = validate_surge_curve(curve)
    if not points:
        return 1.0
    if utilisation_pct <= points[0][0]:
        return points[0][1]
    for (u0, m0), (u1, m1) in zip(points, points[1:], strict=False):
        if utilisation_pct <= u1:
            return m0 + (m1 - m0) * (utilisation_pct - u0) / (u1 - u0)
    return points[-1][1]


def dynamic_unit_price(policy: PricingPolicy, utilisation: float) -> int:
    """clamp(base × surge(utilisation %), floor, cap) in minor units per grid unit (rounded half up)."""
    mult = surge_multiplier(policy.surge_curve, utilisation * 100)
    price = prorate(int(policy.base_price or 0), round(mult * _SCALE), _SCALE)
    return max(int(policy.floor_price or 0), min(int(policy.cap_price or price), price))


@dataclass(frozen=True)
class PricePeriod:
    """Part of a booking's period at one unit price; ``amount`` is what the whole part costs (minor units)."""

    starts_at: datetime
    ends_at: datetime
    unit_price: int
    amount: int

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.starts_at.isoformat(),
            "to": self.ends_at.isoformat(),
            "unit_price": self.unit_price,
            "amount": self.amount,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PricePeriod:
        return cls(
            datetime.fromisoformat(data["from"]),
            datetime.fromisoformat(data["to"]),
            int(data["unit_price"]),
            int(data["amount"]),
        )


def price_schedule(booking: Booking) -> list[PricePeriod]:
    """What each part of a booking costs. One period at its price, unless its profile was changed: then
    each part keeps the price it was used at, and the amounts sum to ``total_price``. Billing charges
    from this (Booking.price_schedule, written with the change; the audit event records it too)."""
    if booking.price_schedule:
        return [PricePeriod.from_json(p) for p in booking.price_schedule]
    return [
        PricePeriod(booking.starts_at, booking.ends_at, int(booking.unit_price or 0), int(booking.total_price or 0))
    ]


def _reprice(schedule: list[PricePeriod], at: datetime, ends_at: datetime, unit: int, grid: int) -> list[PricePeriod]:
    """The schedule with [at, end) at ``unit`` per grid unit; what came before keeps its price (the
    period ``at`` falls in is cut, its amount prorated per second as billing would)."""
    out: list[PricePeriod] = []
    for p in schedule:
        if p.ends_at <= at:
            out.append(p)
        elif p.starts_at < at:
            length = int((p.ends_at - p.starts_at).total_seconds())
            used = int((at - p.starts_at).total_seconds())
            out.append(PricePeriod(p.starts_at, at, p.unit_price, prorate(p.amount, used, length)))
    rest = int((ends_at - at).total_seconds())
    out.append(PricePeriod(at, ends_at, unit, prorate(unit, rest, grid)))
    return out
