from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from marketplace.lib.money import MoneyError, format_minor

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return "—"
    try:
        return format_minor(int(amount), currency)
    except (MoneyError, ValueError, TypeError):
        return str(amount)


@register.filter
def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@register.filter
def gib(mib: int | None) -> str:
    if mib is None:
        return "—"
    value = mib / 1024
    return f"{value:g} GiB"


_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@register.simple_tag
def window_in_viewer_zone(window: Any, zone_name: str) -> str:
    """An availability window (owner's hours in ``zone_name``, the offering's) as the viewer's clock
    reads it this week: "= Tue 01:00–09:00 in Asia/Tokyo"; "" when the viewer's zone is the offering's.
    Shown beside the window, which stays in the offering's zone (its hours follow that zone's DST)."""
    viewer = timezone.get_current_timezone()
    try:
        own = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    viewer_name = timezone.get_current_timezone_name()
    if viewer_name == zone_name:
        return ""
    days = sorted(getattr(window, "weekdays", None) or [])
    if not days:
        return ""
    today = timezone.now().astimezone(own).date()
    monday = today - timedelta(days=today.weekday())
    opens = datetime.combine(monday + timedelta(days=days[0]), window.start_time, tzinfo=own)
    closes_day = opens.date() + timedelta(days=1 if window.end_time <= window.start_time else 0)
    closes = datetime.combine(closes_day, window.end_time, tzinfo=own)
    lo, hi = opens.astimezone(viewer), closes.astimezone(viewer)
    shift = (lo.date() - opens.date()).days
    day = f"{_WEEKDAY_ABBR[(days[0] + shift) % 7]} " if len(days) == 1 else ""
    hours = f"{lo:%H:%M}–{hi:%H:%M}" + (" (into the next day)" if hi.date() > lo.date() else "")
    when = "" if len(days) == 1 or not shift else (" of the next day" if shift > 0 else " of the day before")
    return f"= {day}{hours}{when} in {viewer_name}"


@register.filter
def json_attr(value: Any) -> str:
    """``value`` as JSON for an HTML attribute (autoescaping quotes it), e.g. a chart's spec in
    ``data-chart-spec``: unlike json_script's <script> it survives an htmx swap, which drops every
    script element under the CSP settings (allowScriptTags false)."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))


@register.filter
def visible_error_count(form: Any) -> int:
    """How many of the form's shown fields are refused (those an error sits beside, _field.html)."""
    return sum(1 for field in form.visible_fields() if field.errors)


@register.filter
def hidden_field_errors(form: Any) -> list[str]:
    """The refusals of the form's hidden fields, named: they have no place beside a field, so the
    summary at the top of the form (_form_errors.html) shows them."""
    return [f"{field.label}: {' '.join(field.errors)}" for field in form.hidden_fields() if field.errors]
