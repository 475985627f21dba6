"""The one clock. Tests move it with time-machine; nothing else calls datetime.now()."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(tz=UTC)


def shown(value: datetime | None) -> str:
    """An instant as a portal message shows it: in the active time zone (the signed-in user's, UTC
    elsewhere), naming the zone, e.g. ``2026-12-01 19:00:00 Asia/Tokyo``."""
    if value is None:
        return "—"
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S} {timezone.get_current_timezone_name()}"


def today_bounds(at: datetime | None = None) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of the active time zone's day containing ``at`` (default now), as UTC
    instants: "today" as the viewer reads it (a day of 23 or 25 hours across a daylight-saving change)."""
    zone = timezone.get_current_timezone()
    day = timezone.localtime(at or now(), zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
