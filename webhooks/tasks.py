"""Thin Celery tasks: webhook delivery runs (one endpoint each) and the sweep. Idempotent (acks_late)."""

from __future__ import annotations

from celery import shared_task

from webhooks import delivery


@shared_task(name="webhooks.deliver_endpoint", acks_late=True)
def deliver_endpoint(endpoint_id: int) -> int:
    return delivery.deliver_endpoint(endpoint_id)


@shared_task(name="webhooks.sweep", acks_late=True)
def sweep() -> int:
    delivery.purge()
    return len(delivery.sweep())
