"""Lengths of time as people type and read them: "5 s", "1 min", "15 min", "1 h", "1 h 30 min".

Search's slice length is chosen in these units (the portal's list and the API's ``duration``); the
market itself works in whole seconds."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
# The lengths offered for choice in search (any other may be typed).
COMMON_LENGTHS = (5, 60, 300, 900, 1800, 3600, 7200, 4 * 3600, 8 * 3600)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
HELP = 'Seconds, or a length with units such as "5 s", "1 min", "15 min", "1 h", "1 h 30 min".'


def parse_length(text: str | int) -> int:
    """Whole seconds from "900", "15 min", "1h30m", "1.5 h"; ValueError (in words) otherwise."""
    if isinstance(text, int):
        value = text
    else:
        raw = text.strip().lower()
        if raw.isdigit():
            value = int(raw)
        else:
            parts = _PART.findall(raw)
            if not parts or _PART.sub("", raw).strip(" ,") or any(u not in SECONDS for _, u in parts):
                raise ValueError(f"{text!r} is not a length. {HELP}")
            try:
                total = sum((Decimal(n) * SECONDS[u] for n, u in parts), Decimal(0))
            except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
                raise ValueError(f"{text!r} is not a length. {HELP}") from exc
            if total != total.to_integral_value():
                raise ValueError(f"{text!r} is not a whole number of seconds.")
            value = int(total)
    if value < 1:
        raise ValueError("A length is at least 1 second.")
    return value


def format_length(seconds: int) -> str:
    """The shortest exact reading: 5 s, 1 min, 15 min, 1 h, 1 h 30 min, 90 s, 1 day."""
    seconds = int(seconds)
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} day" + ("s" if seconds // 86400 > 1 else "")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if secs or not seconds:
        return f"{minutes} min {secs} s" if 60 < seconds < 3600 else f"{seconds} s"
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
