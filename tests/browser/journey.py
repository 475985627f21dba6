"""What the end-to-end journeys share: console errors that fail the test, screenshots kept as artefacts,
the chart check, and the engine's Celery worker that delivers the servers.

Screenshots go to ``test-results/screenshots/<test>/`` (``/test-results/`` is git-ignored; CI keeps it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Page

from tests.provisioning.worker import Worker, purge_queue

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

# The worker's settings for a journey: the simulator boots in a second, slices starting within half a
# minute launch at once, and a usage reading may be taken every second (when the beat's task asks).
WORKER_ENV = {
    "SIMULATOR_LAUNCH_SECONDS": "1",
    "SIMULATOR_REBUILD_SECONDS": "1",
    "SIMULATOR_POLL_SECONDS": "0.05",
    "SIMULATOR_FAIL_RATE": "0",
    "PROVISIONING_LEAD_SECONDS": "30",
    "PROVISIONING_POLL_SECONDS": "0.1",
    "METERING_INTERVAL_SECONDS": "1",
    "MARKETPLACE_ALLOW_SIMULATOR": "true",
}


class ConsoleErrors:
    """Collects what the pages print as errors (console.error, uncaught exceptions) while a journey runs."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.messages.append(f"console.error {message.text}" + (f" ({where})" if where else ""))

    def _page_error(self, error: Error) -> None:
        self.messages.append(f"uncaught {error.name}: {error.message}")


@contextmanager
def no_console_errors(*pages: Page) -> Iterator[ConsoleErrors]:
    """Watch ``pages`` (and any page added with ``.watch``); fail at the end with every message seen."""
    errors = ConsoleErrors()
    for page in pages:
        errors.watch(page)
    try:
        yield errors
    except BaseException as exc:
        if errors.messages:  # they may explain the failure
            exc.add_note("the pages logged errors:\n" + "\n".join(errors.messages))
        raise
    assert not errors.messages, "the pages logged errors:\n" + "\n".join(errors.messages)


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-results/screenshots/<current test>/<name>.png (git-ignored)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "journey").split(" ")[0].rsplit("::", 1)[-1]
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", test)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_chart(page: Page, selector: str) -> int:
    """The chart at ``selector`` (a canvas drawn by static/js/charts.js) was drawn with data: its points."""
    canvas = page.locator(selector)
    canvas.wait_for(state="attached")
    page.wait_for_function(
        "(el) => el.getAttribute('data-rendered') === 'true'", arg=canvas.element_handle(), timeout=10_000
    )
    points = int(canvas.get_attribute("data-points") or "0")
    assert points > 0, f"the chart {selector} was drawn without data points"
    return points


@contextmanager
def engine_worker(log: Path, **env: str) -> Iterator[Worker]:
    """A real Celery worker (tests/provisioning/worker.py) on the test database and this run's Redis: it runs
    the engine's tasks as in production (delivery at the slice's start, the end step, reclaims)."""
    purge_queue()  # nothing left over from an earlier run
    worker = Worker(env=WORKER_ENV | env, log=log, concurrency=2).start()
    try:
        yield worker
    finally:
        worker.stop()


def fast_delivery(settings: Any) -> None:
    """The web process's side of WORKER_ENV: it schedules the start and end steps with the same lead."""
    settings.PROVISIONING_LEAD_SECONDS = int(WORKER_ENV["PROVISIONING_LEAD_SECONDS"])
    settings.METERING_INTERVAL_SECONDS = int(WORKER_ENV["METERING_INTERVAL_SECONDS"])
    settings.MARKETPLACE_ALLOW_SIMULATOR = True
