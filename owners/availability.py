"""Availability windows as UTC intervals.

Windows are weekly wall-clock hours in the offering's time zone; this turns
them into half-open UTC intervals [start, end) for a requested range,
handling windows that cross midnight and daylight-saving shifts.

The work follows the weekly pattern, never the range's length a day at a time:
``window_intervals`` visits each window's occurrences in the range (one per
window weekday per week), and ``open_during`` looks at one week after another
and stops at the first that opens, which is the first week unless a
daylight-saving gap swallowed every window that week. A range of years costs
what a week costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]
Window = tuple[Sequence[int], time, time]

WEEK = timedelta(days=7)
# A pattern that never opens in this many weeks never opens (a time zone's gaps come once or twice a
# year): open_during stops looking after it, so even an unbounded range costs at most a year of weeks.
_MAX_WEEKS_SCANNED = 54
_LAST_ORDINAL = date.max.toordinal()


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0 picks the first occurrence of an ambiguous wall time; a wall time
    # skipped by DST maps forward, which is what a person would expect.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _occurrence(day: date, w_start: time, w_end: time, tz: ZoneInfo, start: datetime, end: datetime) -> Interval | None:
    """The window opening on ``day``, clipped to [start, end); None when it misses the range."""
    try:
        open_at = _local(day, w_start, tz)
    except OverflowError:  # the edge of the calendar (year 1 or 9999): nothing representable opens there
        return None
    if w_end > w_start:
        close_day: date | None = day
    else:
        close_day = day + timedelta(days=1) if day.toordinal() < _LAST_ORDINAL else None
    try:
        close_at = _local(close_day, w_end, tz) if close_day is not None else end
    except OverflowError:
        close_at = end  # closes after the last representable instant: open until the range's end
    lo, hi = max(open_at, start), min(close_at, end)
    return (lo, hi) if lo < hi else None


def window_intervals(windows: Sequence[Window], tz_name: str, start: datetime, end: datetime) -> list[Interval]:
    """UTC intervals within [start, end) when the windows are open.

    ``windows`` are (weekdays, start_time, end_time) in zone ``tz_name``; no
    windows means always open. Costs one step per window occurrence in the range.
    """
    if end <= start:
        return []
    if not windows:
        return [(start, end)]
    tz = ZoneInfo(tz_name)
    # A window that opened the local day before the range may still be open at its start.
    first = _local_date(start, tz).toordinal() - 1
    last = _local_date(end, tz).toordinal()
    found: list[Interval] = []
    for weekdays, w_start, w_end in windows:
        for weekday in set(weekdays):
            ordinal = first + (weekday - (first + 6)) % 7  # date.weekday() is (ordinal + 6) % 7
            while ordinal <= last:
                if ordinal >= 1:
                    got = _occurrence(date.fromordinal(ordinal), w_start, w_end, tz, start, end)
                    if got is not None:
                        found.append(got)
                ordinal += 7
    return merge(found)


def _local_date(at: datetime, tz: ZoneInfo) -> date:
    try:
        return at.astimezone(tz).date()
    except OverflowError:  # an instant whose local date is outside the calendar
        return date.min if at.year == 1 else date.max


def open_during(windows: Sequence[Window], tz_name: str, start: datetime, end: datetime) -> bool:
    """True when the windows are open at some point of [start, end).

    Looks one week at a time and stops at the first week that opens: the cost does not grow with the
    range (see ``_MAX_WEEKS_SCANNED``)."""
    if end <= start:
        return False
    if not windows:
        return True
    lo = start
    for _ in range(_MAX_WEEKS_SCANNED):
        hi = end if end - lo <= WEEK else lo + WEEK
        if window_intervals(windows, tz_name, lo, hi):
            return True
        if hi >= end:
            return False
        lo = hi
    return False


def offering_windows(offering: Any) -> list[Window]:
    return [(w.weekdays, w.start_time, w.end_time) for w in offering.windows.all()]


def offering_intervals(offering: Any, start: datetime, end: datetime) -> list[Interval]:
    return window_intervals(offering_windows(offering), offering.timezone, start, end)


def offering_open_during(offering: Any, start: datetime, end: datetime) -> bool:
    return open_during(offering_windows(offering), offering.timezone, start, end)


def covers(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """True when one interval contains all of [start, end)."""
    return any(lo <= start and end <= hi for lo, hi in intervals)
