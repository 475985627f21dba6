"""Notification tests: the engine's frozen calendar (a Monday morning), the real hook receivers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_calendar():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=True):
        yield
