"""Prices in the owner's words, and what a grid change does to them (pure functions, no writes).

A price is stored per grid unit of its offering. When the grid changes, the price per second is
kept: every per-unit amount is restated for the new unit by money.rate_for_seconds, rounded half
up (2 cents per 1 min become 10 cents per 5 min). When a fixed price would round to nothing the
owner is asked for a new price instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marketplace.lib.money import format_major, rate_for_seconds
from owners.bounds import PRICE_LABELS, human_seconds, per_hour
from owners.models import PricingPolicy

MONEY_FIELDS = tuple(PRICE_LABELS)
TERMS_FIELDS = ("model", "currency", *MONEY_FIELDS, "bidding_closes_seconds", "clearing_rule", "surge_curve")
NO_EFFECT_ON_BOOKINGS = (
    "Bookings already made keep the price they were made at; the new price applies to quotes and bookings from now on."
)


def amount_words(amount: int | None, currency: str, grid_seconds: int) -> str:
    """ "0.02 EUR per 1 min (1.20 EUR per hour)"."""
    if amount is None:
        return "—"
    hourly = per_hour(amount, grid_seconds)
    unit = f"{format_major(amount, currency)} per {human_seconds(grid_seconds)}"
    return unit if grid_seconds == 3600 else f"{unit} ({format_major(hourly, currency)} per hour)"


def terms_words(terms: dict[str, Any], grid_seconds: int) -> str:
    """One line saying what a price is: model, amounts per unit and per hour, auction/dynamic terms."""
    currency = terms.get("currency") or "USD"
    model = terms.get("model")

    def money(field: str) -> str:
        return amount_words(terms.get(field), currency, grid_seconds)

    if model == PricingPolicy.Model.FIXED:
        return f"Fixed price {money('price_per_unit')}"
    if model == PricingPolicy.Model.AUCTION:
        closes = terms.get("bidding_closes_seconds")
        rule = dict(PricingPolicy.ClearingRule.choices).get(terms.get("clearing_rule") or "", "—")
        when = human_seconds(closes) if closes is not None else "—"
        return f"Auction, reserve {money('reserve_price')}, bidding closes {when} before the start, {rule}"
    if model == PricingPolicy.Model.DYNAMIC:
        return f"Dynamic, base {money('base_price')}, floor {money('floor_price')}, cap {money('cap_price')}"
    return "No price"


def policy_terms(policy: PricingPolicy) -> dict[str, Any]:
    return {f: getattr(policy, f) for f in (*TERMS_FIELDS, "release_charge")}


@dataclass(frozen=True)
class PriceChange:
    """What saving a price would change, for the owner to confirm."""

    profile: str
    old: str
    new: str
    release_old: str
    release_new: str

    @property
    def changes_anything(self) -> bool:
        return self.old != self.new or self.release_old != self.release_new

    effect_on_bookings: str = NO_EFFECT_ON_BOOKINGS


def price_change(policy: PricingPolicy | None, new_terms: dict[str, Any], grid_seconds: int) -> PriceChange | None:
    """Old and new price of one profile in words; None when the profile has no price yet."""
    if policy is None:
        return None
    releases = dict(PricingPolicy.ReleaseCharge.choices)
    return PriceChange(
        profile=policy.profile.name,
        old=terms_words(policy_terms(policy), grid_seconds),
        new=terms_words(new_terms, grid_seconds),
        release_old=releases.get(policy.release_charge, policy.release_charge),
        release_new=releases.get(new_terms.get("release_charge") or "", str(new_terms.get("release_charge") or "")),
    )


def rescaled(policy: PricingPolicy, old_grid: int, new_grid: int) -> dict[str, int | None]:
    """The policy's per-unit amounts restated for a new grid unit, keeping the price per second."""
    return {
        f: None if getattr(policy, f) is None else rate_for_seconds(getattr(policy, f), old_grid, new_grid)
        for f in MONEY_FIELDS
    }


def rescale_problem(policy: PricingPolicy, old_grid: int, new_grid: int) -> str | None:
    """Why this policy cannot simply be rescaled (its fixed price would round to zero), else None."""
    new = rescaled(policy, old_grid, new_grid)
    if policy.model == PricingPolicy.Model.FIXED and not new["price_per_unit"]:
        return (
            f"{policy.profile.name}: {format_major(policy.price_per_unit or 0, policy.currency)} per "
            f"{human_seconds(old_grid)} would be {format_major(0, policy.currency)} per {human_seconds(new_grid)} "
            "once rounded; set a new price for it first, or choose a longer grid."
        )
    return None


def grid_change_lines(policies: list[PricingPolicy], old_grid: int, new_grid: int) -> list[str]:
    """ "Small: Fixed price 0.02 EUR per 1 min (...) → Fixed price 0.10 EUR per 5 min (...)" per policy."""
    lines = []
    for policy in policies:
        terms = policy_terms(policy) | rescaled(policy, old_grid, new_grid)
        lines.append(
            f"{policy.profile.name}: {terms_words(policy_terms(policy), old_grid)} → {terms_words(terms, new_grid)}"
        )
    return lines
