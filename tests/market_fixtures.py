"""Fixtures shared by the engine's test folders (tests/scheduling, tests/concurrency).

pytest allows ``pytest_plugins`` only in the root conftest, so each of those
folders' conftest imports these fixtures by name; that keeps them out of the
other folders, which must not see a frozen calendar or isolated hooks.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection

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


@pytest.fixture
def notified():  # type: ignore[no-untyped-def]
    """The engine with the notifications app's receiver only: what a renter is told of a change."""
    from notifications import events

    hooks.register("booking_events", events.on_booking_events)


def commit_elsewhere(sql: str, params: list[Any]) -> None:
    """Run ``sql`` on a connection of its own (another thread) and commit it, as another process
    would: raw SQL that bypasses every Python path. Needs a transaction=True test."""

    def other_process() -> None:
        try:
            with connection.cursor() as cur:
                cur.execute(sql, params)
        finally:
            connection.close()

    t = threading.Thread(target=other_process)
    t.start()
    t.join()
