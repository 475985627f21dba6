"""Template filters for the owner portal's prices."""

from __future__ import annotations

from django import template

from owners.bounds import per_hour as _per_hour

register = template.Library()


@register.filter
def per_hour(amount_per_unit: int | None, grid_seconds: int | None) -> int | None:
    """A per-grid-unit price (minor units) as a price per hour, for the `money` filter to show."""
    if amount_per_unit is None or not grid_seconds:
        return None
    return _per_hour(int(amount_per_unit), int(grid_seconds))
