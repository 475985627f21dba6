"""A real Celery worker process for the tests: same code, the test database, our own Redis DB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    def __init__(
        self,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        concurrency: int = 2,
        queues: str | None = None,
    ):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "marketplace.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log = log or Path("/tmp") / f"prov-worker-{os.getpid()}-{time.monotonic_ns()}.log"
        self.concurrency = concurrency
        self.queues = queues  # None: every queue (marketplace/settings.py CELERY_TASK_QUEUES)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        celery = str(Path(sys.executable).with_name("celery"))
        self._fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                celery,
                "-A",
                "marketplace",
                "worker",
                "-l",
                "info",
                "-c",
                str(self.concurrency),
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"prov-{time.monotonic_ns()}@test",
                *(["-Q", self.queues] if self.queues else []),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"ready." not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the worker and its pool children at once (the whole process group) by signal."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "_fh", None):
            self._fh.close()


def wait_for(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def purge_queue() -> None:
    from marketplace.celery import app

    app.control.purge()
