"""Celery tasks sent by name, after commit: domain services never import a tasks module.

The task is resolved from the Celery app's registry and sent with ``apply_async``, so eager mode
(the tests) runs it in-process, which ``send_task`` alone would not. A broker that is down is
logged, not raised: every task has a sweep that finds the same work in the database, so a lost
message costs a sweep interval, never a booking or a payment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from celery import current_app
from django.core.cache import cache
from django.db import transaction

from marketplace.lib import clock

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


ETA_HORIZON_SECONDS = 600  # further ahead, a beat task sends it later (ETA messages live in workers' memory)


def send_at(name: str, *args: Any, at: datetime, key: str = "") -> bool:
    """Send the task ``name`` to run at the instant ``at`` (a Celery ETA); True if it was sent.

    Not sent when ``at`` is beyond the horizon (the caller's beat task sends it when it comes
    near), when the same ``key`` was already sent for that instant (a Redis ``add``, so a beat task
    re-sending what is due does not pile up copies), or, in eager mode (the unit tests), when ``at``
    is in the future: eager tasks would run at once. A lost message is the sweeps' to find.
    """
    now = clock.now()
    delay = (at - now).total_seconds()
    if delay > ETA_HORIZON_SECONDS:
        return False
    app = current_app
    if delay > 0 and app.conf.task_always_eager:
        return False
    if key and not cache.add(f"eta:{key}:{at.timestamp():.3f}", 1, timeout=int(max(delay, 0)) + 120):
        return False
    try:
        if name not in app.tasks:
            app.loader.import_default_modules()
        task = app.tasks.get(name)
        if task is not None and delay <= 0:
            task.apply_async(args=args, retry=False)
        elif task is not None:
            task.apply_async(args=args, eta=at, retry=False)
        else:
            app.send_task(name, args=args, eta=at if delay > 0 else None, retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker may be down: the sweep finds the work later
        log.warning("could not queue %s%r at %s (%s); the next sweep will do it", name, args, at, exc)
        if key:
            cache.delete(f"eta:{key}:{at.timestamp():.3f}")
        return False
    return True


def send_at_on_commit(name: str, *args: Any, at: datetime, key: str = "") -> None:
    transaction.on_commit(partial(send_at, name, *args, at=at, key=key))
