"""Operator-set maxima on what owners type (settings MARKETPLACE_*_MAX*), and the words for them.

Each check returns {field: message}, the message in the owner's words: the field's label, money
in major units with its currency, durations in s / min / h. Model ``clean()`` runs them, so every
door that validates a row (portal, admin, services) refuses the same input with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from marketplace.lib.money import MoneyError, format_major, rate_for_seconds, to_minor

HOUR = 3600

# The labels the owner sees for the money fields of a price (the pricing form uses them too).
PRICE_LABELS: dict[str, str] = {
    "price_per_unit": "Fixed price per grid unit",
    "reserve_price": "Auction reserve per grid unit",
    "base_price": "Dynamic base per grid unit",
    "floor_price": "Dynamic floor per grid unit",
    "cap_price": "Dynamic cap per grid unit",
}

CAPACITY_LABELS: dict[str, tuple[str, str]] = {
    "vcpus": ("vCPU capacity", "MARKETPLACE_OFFERING_MAX_VCPUS"),
    "ram_mib": ("RAM capacity (MiB)", "MARKETPLACE_OFFERING_MAX_RAM_MIB"),
    "disk_gb": ("Disk capacity (GB)", "MARKETPLACE_OFFERING_MAX_DISK_GB"),
    "bandwidth_mbps": ("Bandwidth capacity (Mbit/s)", "MARKETPLACE_OFFERING_MAX_BANDWIDTH_MBPS"),
}


def human_seconds(seconds: int) -> str:
    """3600 -> "1 h", 300 -> "5 min", 90 -> "90 s" (the portal's way of writing a duration)."""
    if seconds and seconds % HOUR == 0:
        return f"{seconds // HOUR:,} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60:,} min"
    return f"{seconds:,} s"


def notice_max_seconds() -> int:
    return int(settings.MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS)


def notice_errors(seconds: int | None, *, label: str = "The notice before preemption") -> dict[str, str]:
    """A notice above the operator's maximum, in words (empty when it is within bounds)."""
    top = notice_max_seconds()
    if seconds is not None and seconds > top:
        return {"preemption_notice_seconds": f"{label} can be at most {human_seconds(top)} ({top:,} s)."}
    return {}


def capacity_errors(values: Mapping[str, int | None]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, (label, setting) in CAPACITY_LABELS.items():
        value = values.get(field)
        top = int(getattr(settings, setting))
        if value is not None and value > top:
            errors[field] = f"{label} can be at most {top:,}."
    return errors


def price_max_per_hour(currency: str) -> int | None:
    """The operator's highest price per hour in ``currency`` (minor units); None when not limited."""
    raw = settings.MARKETPLACE_PRICE_MAX_PER_HOUR.get(currency)
    if raw is None:
        return None
    try:
        return to_minor(raw, currency)
    except MoneyError:
        return None


def per_hour(amount_per_unit: int, grid_seconds: int) -> int:
    """A price per grid unit as a price per hour (minor units), rounded as money.rate_for_seconds does."""
    return rate_for_seconds(amount_per_unit, grid_seconds, HOUR)


def price_errors(prices: Mapping[str, int | None], currency: str, grid_seconds: int) -> dict[str, str]:
    """Prices whose rate per hour is above the operator's maximum for their currency."""
    top = price_max_per_hour(currency)
    if top is None or not grid_seconds:
        return {}
    errors: dict[str, str] = {}
    for field, label in PRICE_LABELS.items():
        value = prices.get(field)
        if value is None:
            continue
        hourly = per_hour(value, grid_seconds)
        if hourly > top:
            errors[field] = (
                f"{label}: {format_major(value, currency)} per {human_seconds(grid_seconds)} is "
                f"{format_major(hourly, currency)} per hour; the market allows at most "
                f"{format_major(top, currency)} per hour."
            )
    return errors
