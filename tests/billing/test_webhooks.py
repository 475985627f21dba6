"""Webhooks: signature, store-once, replays ignored, handler failures retried, and real localstripe deliveries."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from billing import ledger, services, tasks, webhooks
from billing import stripe_gateway as gateway
from billing.models import Dispute, LedgerTransaction, Payment, Refund, WebhookEvent
from tests.billing.conftest import WEBHOOK_SECRET, add_card, assert_ledger_balanced
from tests.billing.harness import DelayingProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
K = ledger.Kind
URL = "/billing/webhooks/stripe"


def signed_post(client: Client, event: dict, secret: str = WEBHOOK_SECRET):  # type: ignore[no-untyped-def]
    payload = json.dumps(event)
    header = gateway.sign_payload(payload, secret=secret, timestamp=int(time.time()))
    return client.post(URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def wait_for(predicate, timeout: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def dispute_event(event_id: str, status: str, pi: str, kind: str = "charge.dispute.created") -> dict:
    # Shape recorded from Stripe's documented Dispute object (fields we read, plus their neighbours).
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {
                "id": "dp_1Test",
                "object": "dispute",
                "amount": 1200,
                "currency": "usd",
                "charge": "ch_1Test",
                "payment_intent": pi,
                "reason": "fraudulent",
                "status": status,
                "is_charge_refundable": False,
                "balance_transactions": [],
                "created": int(time.time()),
                "evidence_details": {"due_by": None, "has_evidence": False, "past_due": False, "submission_count": 0},
                "livemode": False,
                "metadata": {},
            }
        },
    }


def test_bad_signature_is_refused_and_nothing_stored(stripe_server):
    client = Client()
    response = signed_post(client, dispute_event("evt_bad", "needs_response", "pi_x"), secret="whsec_wrong")
    assert response.status_code == 400
    response = client.post(URL, data="{}", content_type="application/json")
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_dispute_lifecycle_and_replay_is_ignored(stripe_server):
    client = Client()
    first = signed_post(client, dispute_event("evt_d1", "needs_response", "pi_unknown"))
    assert first.json() == {"status": "processed"}
    replay = signed_post(client, dispute_event("evt_d1", "needs_response", "pi_unknown"))
    assert replay.json() == {"status": "duplicate"}
    assert ledger.balance_of(K.DISPUTES, "USD") == 1200
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == -1200
    won = signed_post(client, dispute_event("evt_d2", "won", "pi_unknown", kind="charge.dispute.closed"))
    assert won.json() == {"status": "processed"}
    assert Dispute.objects.get().status == "won"
    assert ledger.balance_of(K.DISPUTES, "USD") == 0
    assert WebhookEvent.objects.count() == 2
    assert_ledger_balanced()


def test_a_failing_handler_keeps_the_event_and_the_retry_applies_it(stripe_server, renter, monkeypatch):
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=2000)
    customer = services.customer_ensure(user=renter).stripe_id
    # Stripe did the work but our API call's answer was lost: the row knows the intent, not its outcome.
    pi = gateway.create_payment_intent(
        amount=2000,
        currency="USD",
        customer=customer,
        payment_method=payment.payment_method.stripe_id,
        capture_method="automatic",
        metadata={"idempotency_key": payment.idempotency_key},
        idempotency_key="x",
    )
    Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=pi["id"], status="pending")
    pi = gateway.confirm_payment_intent(pi["id"], idempotency_key="y")
    event = {
        "id": "evt_pi1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": pi},
    }
    real = services.payment_apply_remote
    calls = {"n": 0}

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "payment_apply_remote", broken)
    response = signed_post(Client(), event)
    assert response.status_code == 200 and response.json() == {"status": "failed"}
    stored = WebhookEvent.objects.get(stripe_event_id="evt_pi1")
    assert stored.status == "failed" and "database hiccup" in stored.last_error
    assert LedgerTransaction.objects.count() == 0
    monkeypatch.setattr(services, "payment_apply_remote", real)
    assert tasks.retry_webhook_events() == 1
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == ("processed", 2)
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2000
    assert tasks.retry_webhook_events() == 0


def test_localstripe_delivers_signed_events_that_converge_with_the_api_answer(stripe_server, live_server, renter):
    stripe_server.register_webhook(live_server.url + URL, WEBHOOK_SECRET)
    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=1800).pk)
    assert payment.status == "succeeded"
    wait_for(lambda: WebhookEvent.objects.filter(type="payment_intent.succeeded", status="processed").exists())
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 1800
    assert_ledger_balanced()


def test_webhook_arriving_before_the_api_call_returns(stripe_server, live_server, renter, settings):
    """localstripe sends the event 1 s after the charge; the confirm answer is held back 3 s by a proxy."""
    stripe_server.register_webhook(live_server.url + URL, WEBHOOK_SECRET)
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=2200)
    proxy = DelayingProxy(stripe_server.url)
    try:
        settings.STRIPE_API_BASE = proxy.url
        proxy.delay_once("POST", r"/v1/payment_intents/\w+/confirm", 3.0)
        result: dict = {}

        def run() -> None:
            try:
                result["p"] = services.payment_process(payment_id=payment.pk)
            finally:
                connection.close()

        worker = threading.Thread(target=run)
        worker.start()
        wait_for(lambda: WebhookEvent.objects.filter(type="payment_intent.succeeded", status="processed").exists())
        # The webhook got there first: money is on the balance while the API call is still waiting.
        assert worker.is_alive()
        assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2200
        worker.join(timeout=15)
    finally:
        proxy.stop()
    assert result["p"].status == "succeeded"
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2200
    assert_ledger_balanced()


def test_refund_event_settles_a_refund_whose_api_answer_was_lost(stripe_server, renter, staff):
    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=3000).pk)
    refund = services.refund_create(actor=staff, payment_id=payment.pk, amount=500, reason="goodwill")
    remote = {
        "id": refund.stripe_refund_id,
        "object": "refund",
        "status": "succeeded",
        "amount": 500,
        "metadata": {"idempotency_key": refund.idempotency_key},
    }
    # Replaying the event for an already-settled refund changes nothing.
    row, _ = webhooks.event_receive(
        payload=json.dumps(
            {"id": "evt_r1", "object": "event", "type": "refund.updated", "data": {"object": remote}}
        ).encode(),
        signature=gateway.sign_payload(
            json.dumps({"id": "evt_r1", "object": "event", "type": "refund.updated", "data": {"object": remote}}),
            secret=WEBHOOK_SECRET,
            timestamp=int(time.time()),
        ),
    )
    assert webhooks.event_process(event_id=row.pk).status == "processed"
    assert Refund.objects.get().status == "succeeded"
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2500
    assert_ledger_balanced()
