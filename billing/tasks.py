"""Thin Celery tasks: take ids, call one service, own the retry policy. All idempotent (acks_late)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from billing import integration, services, webhooks
from billing import stripe_gateway as gateway
from billing.models import Payment, Payout, Refund, WebhookEvent
from marketplace.lib import clock
from marketplace.lib.errors import DomainError

log = logging.getLogger(__name__)

RETRY = {
    "acks_late": True,
    "autoretry_for": (gateway.GatewayTimeout, gateway.GatewayError),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="billing.tasks.process_payment", **RETRY)
def process_payment(payment_id: int) -> str:
    return services.payment_process(payment_id=payment_id).status


@shared_task(name="billing.tasks.process_refund", **RETRY)
def process_refund(refund_id: int) -> str:
    return services.refund_process(refund_id=refund_id).status


@shared_task(name="billing.tasks.process_payout", **RETRY)
def process_payout(payout_id: int) -> str:
    return services.payout_process(payout_id=payout_id).status


@shared_task(name="billing.tasks.retry_webhook_events", acks_late=True)
def retry_webhook_events() -> int:
    """Events whose handler failed (or whose worker died) are processed again."""
    stale = clock.now() - timedelta(seconds=30)
    ids = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED, attempts__lt=20).values_list("pk", flat=True)
    ) + list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        webhooks.event_process(event_id=pk)
    return len(ids)


@shared_task(name="billing.tasks.sweep_payments", acks_late=True)
def sweep_payments() -> int:
    """Payments, refunds and payouts left mid-flight (a worker killed, a broker message lost) are driven again."""
    stale = clock.now() - timedelta(seconds=60)
    count = 0
    for pk in Payment.objects.filter(status__in=["created", "pending"], updated_at__lt=stale).values_list(
        "pk", flat=True
    ):
        process_payment.delay(pk)
        count += 1
    for pk in Refund.objects.filter(status="created", updated_at__lt=stale).values_list("pk", flat=True):
        process_refund.delay(pk)
        count += 1
    for pk in Payout.objects.filter(status__in=["created", "pending"], updated_at__lt=stale).values_list(
        "pk", flat=True
    ):
        process_payout.delay(pk)
        count += 1
    return count


@shared_task(name="billing.tasks.sweep_bookings", acks_late=True)
def sweep_bookings() -> dict[str, int]:
    return integration.sweep()


@shared_task(name="billing.tasks.run_scheduled_payouts", acks_late=True)
def run_scheduled_payouts() -> int:
    from accounts.models import User

    count = 0
    for owner_id, currency in services.payouts_due():
        try:
            payout = services.payout_request(
                actor=None, owner=User.objects.get(pk=owner_id), currency=currency, trigger="schedule"
            )
        except DomainError as exc:
            log.info("scheduled payout for owner %s skipped: %s", owner_id, exc)
            continue
        process_payout.delay(payout.pk)
        count += 1
    return count
