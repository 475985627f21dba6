"""The one clock. Tests move it with time-machine; nothing else calls datetime.now()."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(tz=UTC)
