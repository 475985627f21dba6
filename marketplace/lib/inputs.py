"""Bounds on what anyone may type: dates within a sane calendar window, time ranges of a sane length,
integers that fit their column, no NUL characters. Each check returns the message a person reads (or
None); the form field (marketplace.lib.forms), the serializer field (marketplace.lib.api) and the
input guard middleware (marketplace.middleware) use them, so every door refuses the same input with
the same words.

The operator sets the window with MARKETPLACE_EARLIEST_YEAR / MARKETPLACE_LATEST_YEAR and the longest
range with MARKETPLACE_MAX_RANGE_DAYS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme

# The largest values PostgreSQL's integer and bigint columns hold (ids are bigint).
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
NUL = "\x00"
NUL_MESSAGE = "The request contains a NUL character (\\0), which no field accepts."


def earliest_year() -> int:
    return int(settings.MARKETPLACE_EARLIEST_YEAR)


def latest_year() -> int:
    return int(settings.MARKETPLACE_LATEST_YEAR)


def max_range() -> timedelta:
    return timedelta(days=int(settings.MARKETPLACE_MAX_RANGE_DAYS))


def _window_message() -> str:
    return f"Give a date from {earliest_year()} to {latest_year()}."


def year_error(year: int) -> str | None:
    """A year outside the operator's calendar window, in words (None when it is inside)."""
    if not earliest_year() <= year <= latest_year():
        return _window_message()
    return None


def datetime_error(value: datetime) -> str | None:
    """A date and time outside the calendar window (also one whose UTC instant the calendar cannot
    hold, like 0001-01-01T00:00+05:00), in words; None when it is inside."""
    try:
        year = value.astimezone(UTC).year if value.tzinfo is not None else value.year
    except (OverflowError, ValueError):
        return _window_message()
    return year_error(year)


def range_error(start: datetime, end: datetime) -> str | None:
    """A range longer than the operator's maximum, in words; None when it is within it (an end before
    the start is left to the caller, whose words for it differ)."""
    limit = max_range()
    try:
        too_long = end - start > limit
    except (OverflowError, TypeError):
        return f"A time range can be at most {limit.days} days long."
    return f"A time range can be at most {limit.days} days long." if too_long else None


def has_nul(value: object) -> bool:
    return isinstance(value, str) and NUL in value


def local_next(target: str | None, host: str) -> str | None:
    """A ``next`` address safe to redirect to: a path on this site ("/market/slices/?…"), else None.

    ``redirect()`` reads a string without "/" as a view name ("0" is a NoReverseMatch: a 500), and a
    full URL may lead off-site; only a path that url_has_allowed_host_and_scheme accepts is kept."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={host}) else None
