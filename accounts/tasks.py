"""Periodic upkeep of accounts' tables."""

from __future__ import annotations

from celery import shared_task

from marketplace.lib import idempotency


@shared_task(name="accounts.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Idempotency keys are kept 24 hours (Stripe's rule); older ones are deleted."""
    return idempotency.purge_expired()
