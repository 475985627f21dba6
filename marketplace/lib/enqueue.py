"""Celery tasks sent by name, after commit: domain services never import a tasks module.

The task is resolved from the Celery app's registry and sent with ``apply_async``, so eager mode
(the tests) runs it in-process, which ``send_task`` alone would not. A broker that is down is
logged, not raised: every task has a sweep that finds the same work in the database, so a lost
message costs a sweep interval, never a booking or a payment.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)


def send(name: str, *args: Any) -> None:
    """Send the task ``name`` now (outside any transaction, or from an on-commit callback)."""
    try:
        app = current_app
        if name not in app.tasks:
            # A process that never imported the tasks modules (a web worker): load them as a worker does.
            app.loader.import_default_modules()
        task = app.tasks.get(name)
        if task is not None:
            task.apply_async(args=args, retry=False)
        else:
            app.send_task(name, args=args, retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker may be down: the sweep finds the work later
        log.warning("could not queue %s%r (%s); the next sweep will do it", name, args, exc)


def send_on_commit(name: str, *args: Any) -> None:
    """Send the task once the current transaction commits (nothing is sent if it rolls back)."""
    transaction.on_commit(partial(send, name, *args))
