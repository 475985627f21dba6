"""Stripe webhooks: verify, store once, process; a failed handler is retried from the stored event.

The event row is committed before any processing, so an exception in our
handler never loses the event: it stays ``failed`` with its error and the
``retry_webhook_events`` task picks it up. Replays of an event id are ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record_event
from billing import services
from billing import stripe_gateway as gateway
from billing.models import ConnectedAccount, Payment, Payout, Refund, WebhookEvent
from marketplace.lib import clock

log = logging.getLogger(__name__)


def event_receive(*, payload: bytes, signature: str | None) -> tuple[WebhookEvent, bool]:
    """Verify and store an event. Returns (event, is_new). Raises gateway.SignatureInvalid."""
    event = gateway.verify_event(payload, signature)
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(stripe_event_id=event["id"], type=event.get("type", ""), payload=event)
            record_event(
                actor=None, verb="billing.webhook.received", target=row, data={"type": row.type}, source="webhook"
            )
    except IntegrityError:
        return WebhookEvent.objects.get(stripe_event_id=event["id"]), False
    return row, True


def event_process(*, event_id: int) -> WebhookEvent:
    """Apply one stored event; idempotent (a processed event is skipped, every handler is keyed)."""
    row = WebhookEvent.objects.get(pk=event_id)
    if row.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
        return row
    WebhookEvent.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
    try:
        handled = _dispatch(row.type, row.payload)
    except Exception as exc:
        log.exception("webhook %s (%s) failed", row.stripe_event_id, row.type)
        WebhookEvent.objects.filter(pk=row.pk).update(status=WebhookEvent.Status.FAILED, last_error=repr(exc)[:2000])
        row.refresh_from_db()
        return row
    status = WebhookEvent.Status.PROCESSED if handled else WebhookEvent.Status.IGNORED
    WebhookEvent.objects.filter(pk=row.pk).update(status=status, processed_at=clock.now(), last_error="")
    row.refresh_from_db()
    return row


def _object(payload: dict[str, Any]) -> dict[str, Any]:
    return (payload.get("data") or {}).get("object") or {}


def _payment_for(obj: dict[str, Any]) -> Payment | None:
    payment = Payment.objects.filter(stripe_payment_intent_id=obj.get("id")).first() if obj.get("id") else None
    if payment is None:
        key = (obj.get("metadata") or {}).get("idempotency_key")
        payment = Payment.objects.filter(idempotency_key=key).first() if key else None
    return payment


def _dispatch(kind: str, payload: dict[str, Any]) -> bool:
    obj = _object(payload)
    if kind.startswith("payment_intent."):
        payment = _payment_for(obj)
        if payment is None:
            return False
        remote = dict(obj)
        if kind == "payment_intent.payment_failed" and not remote.get("last_payment_error"):
            remote["last_payment_error"] = {"code": "card_declined", "message": "The card was declined."}
        services.payment_apply_remote(payment_id=payment.pk, remote=remote)
        return True
    if kind in ("charge.refunded", "refund.updated", "refund.created", "charge.refund.updated"):
        refunds = (obj.get("refunds") or {}).get("data") if obj.get("object") == "charge" else [obj]
        seen = False
        for item in refunds or []:
            key = (item.get("metadata") or {}).get("idempotency_key")
            refund = Refund.objects.filter(idempotency_key=key).first() if key else None
            if refund is None and item.get("id"):
                refund = Refund.objects.filter(stripe_refund_id=item["id"]).first()
            if refund is not None:
                services.refund_apply_remote(refund_id=refund.pk, remote=item)
                seen = True
        return seen
    if kind.startswith("charge.dispute."):
        services.dispute_record(remote=obj)
        return True
    if kind == "account.updated":
        account = ConnectedAccount.objects.filter(stripe_account_id=obj.get("id")).first()
        if account is None:
            return False
        services.connect_refresh(user=account.user, remote=obj)
        return True
    if kind.startswith("transfer."):
        payout = Payout.objects.filter(stripe_transfer_id=obj.get("id")).first()
        if payout is None:
            key = (obj.get("metadata") or {}).get("idempotency_key")
            payout = Payout.objects.filter(idempotency_key=key).first() if key else None
        if payout is None:
            return False
        services.payout_apply_remote(payout_id=payout.pk, remote=obj)
        return True
    return False
