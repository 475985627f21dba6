"""Billing's Celery tasks are sent by name, after commit: no module below ``billing.tasks`` imports it.

The task is resolved from the Celery app's registry and sent with ``apply_async``, so eager mode
(the tests) runs it in-process, which ``send_task`` would not. A broker outage is logged, not
raised: the sweeps (``sweep_payments``, ``integration.sweep``) find work whose message never left.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from django.db import transaction

log = logging.getLogger(__name__)


def send_on_commit(task_name: str, *args: Any) -> None:
    """Queue ``task_name(*args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(task_name, *args))


def send(task_name: str, *args: Any) -> None:
    try:
        _task(task_name).apply_async(args=args)
    except Exception:
        log.warning("could not queue %s%r; the sweep will pick it up", task_name, args, exc_info=True)


def _task(name: str) -> Task:
    app = current_app
    if name not in app.tasks:
        # A process that never imported the tasks modules (a web worker): load them as a worker does.
        app.loader.import_default_modules()
    return app.tasks[name]
