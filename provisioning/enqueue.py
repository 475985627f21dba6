"""Sending provisioning's tasks by name, for the services (which sit below tasks and never import them).

A broker that is down is logged, not raised: every task has a sweep that finds
the same work in the database (a lost message costs a sweep interval).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)


def send(name: str, *args: Any) -> None:
    """Send the task ``name`` now. A registered task is sent through its own object (so eager mode applies)."""
    try:
        task = current_app.tasks.get(name)
        if task is not None:
            task.apply_async(args=args, retry=False)
        else:
            current_app.send_task(name, args=args, retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker may be down: the sweep finds the work later
        log.warning("could not enqueue %s%r (%s); the next sweep will do it", name, args, exc)


def send_on_commit(name: str, *args: Any) -> None:
    """Send the task once the current transaction commits (nothing is sent if it rolls back)."""
    transaction.on_commit(partial(send, name, *args))
