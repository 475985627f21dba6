"""Availability windows as UTC intervals.

Windows are weekly wall-clock hours in the offering's time zone; this turns
them into half-open UTC intervals [start, end) for a requested range,
handling windows that cross midnight and daylight-saving shifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


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


def window_intervals(
    windows: Sequence[tuple[Sequence[int], time, time]],
    tz_name: str,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """UTC intervals within [start, end) when the windows are open.

    ``windows`` are (weekdays, start_time, end_time) in zone ``tz_name``; no
    windows means always open.
    """
    if end <= start:
        return []
    if not windows:
        return [(start, end)]
    tz = ZoneInfo(tz_name)
    first_day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date()
    found: list[Interval] = []
    day = first_day
    while day <= last_day:
        weekday = day.weekday()
        for weekdays, w_start, w_end in windows:
            if weekday not in weekdays:
                continue
            open_at = _local(day, w_start, tz)
            close_day = day if w_end > w_start else day + timedelta(days=1)
            close_at = _local(close_day, w_end, tz)
            lo, hi = max(open_at, start), min(close_at, end)
            if lo < hi:
                found.append((lo, hi))
        day += timedelta(days=1)
    return merge(found)


def offering_intervals(offering, start: datetime, end: datetime) -> list[Interval]:  # type: ignore[no-untyped-def]
    windows = [(w.weekdays, w.start_time, w.end_time) for w in offering.windows.all()]
    return window_intervals(windows, offering.timezone, start, end)


def covers(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """True when one interval contains all of [start, end)."""
    return any(lo <= start and end <= hi for lo, hi in intervals)
