"""Tags for search pages: lengths in human units and links to a changed search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.http import QueryDict

from marketplace.lib.durations import COMMON_LENGTHS, format_length

register = template.Library()


@register.filter
def length(seconds: int | None) -> str:
    """5 s, 1 min, 15 min, 1 h, 1 h 30 min."""
    return "—" if seconds is None else format_length(int(seconds))


@register.simple_tag
def common_lengths() -> list[str]:
    return [format_length(s) for s in COMMON_LENGTHS]


@register.simple_tag
def query_with(query: QueryDict, changes: Mapping[str, Any] | None = None, **more: Any) -> str:
    """``query`` (request.GET) with ``changes`` and ``more`` applied (None drops a key), as "?a=1&b=2"."""
    params = query.copy()
    for key, value in {**(changes or {}), **more}.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + params.urlencode()


@register.filter
def per_hour(unit_price: int | None, grid_seconds: int) -> int | None:
    """A price per grid unit (minor units) scaled to an hour, rounded half up, so grids compare."""
    if unit_price is None or not grid_seconds:
        return None
    grid = int(grid_seconds)
    return (int(unit_price) * 3600 + grid // 2) // grid
