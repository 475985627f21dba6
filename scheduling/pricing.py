"""Prices: fixed, dynamic (base × surge(utilisation), clamped to floor and cap), auction reserve."""

from __future__ import annotations

from marketplace.lib.money import prorate
from owners.models import PricingPolicy, validate_surge_curve

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


def listed_unit_price(policy: PricingPolicy, utilisation: float = 0.0) -> int:
    """The price per grid unit a renter would see now: fixed price, reserve, or the dynamic price."""
    if policy.model == PricingPolicy.Model.FIXED:
        return int(policy.price_per_unit or 0)
    if policy.model == PricingPolicy.Model.AUCTION:
        return int(policy.reserve_price or 0)
    return dynamic_unit_price(policy, utilisation)
