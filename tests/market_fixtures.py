"""Fixtures shared by the engine's test folders (tests/scheduling, tests/concurrency).

pytest allows ``pytest_plugins`` only in the root conftest, so each of those
folders' conftest imports these fixtures by name; that keeps them out of the
other folders, which must not see a frozen calendar or isolated hooks.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from scheduling import hooks

# A Monday morning; every engine test sees the same calendar.
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_calendar():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def _engine_only():  # type: ignore[no-untyped-def]
    """The engine's tests run without billing's or provisioning's hook receivers."""
    with hooks.isolated():
        yield
