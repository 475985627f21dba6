"""Faults: a Stripe timeout, and a Celery worker killed (SIGKILL) between the charge and the ledger write.

Each must leave the ledger balanced, the renter charged exactly once, and the money on their balance.
(A declined card: test_payments.py and test_card_per_booking.py; a webhook before the API answer:
test_webhooks.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from billing import ledger, services
from billing import stripe_gateway as gateway
from billing.models import LedgerTransaction, Payment
from tests.billing.conftest import add_card, assert_ledger_balanced
from tests.billing.harness import DelayingProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
K = ledger.Kind
ROOT = Path(__file__).resolve().parents[2]


def intents_for(key: str) -> list[dict]:
    data = gateway.client().v1.payment_intents.list(params={"limit": 100}).to_dict()["data"]
    return [pi for pi in data if (pi.get("metadata") or {}).get("idempotency_key") == key]


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def proxy(stripe_server):  # type: ignore[no-untyped-def]
    p = DelayingProxy(stripe_server.url)
    yield p
    p.stop()


def test_timeout_after_stripe_charged_is_reconciled_without_a_second_charge(stripe_server, proxy, renter, settings):
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=2600)
    settings.STRIPE_API_BASE = proxy.url
    settings.STRIPE_TIMEOUT_SECONDS = 1
    proxy.delay_once("POST", r"/v1/payment_intents/\w+/confirm", 2.5)
    with pytest.raises(gateway.GatewayTimeout):
        services.payment_process(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.stripe_payment_intent_id
    assert LedgerTransaction.objects.count() == 0  # nothing booked on an unknown outcome
    # The task's retry: Stripe is asked what happened instead of being asked to charge again.
    payment = services.payment_process(payment_id=payment.pk)
    assert payment.status == "succeeded"
    assert [pi["status"] for pi in intents_for(payment.idempotency_key)] == ["succeeded"]
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2600
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert_ledger_balanced()


def test_timeout_on_create_finds_the_intent_stripe_made(stripe_server, proxy, renter, settings):
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=1700)
    settings.STRIPE_API_BASE = proxy.url
    settings.STRIPE_TIMEOUT_SECONDS = 1
    proxy.delay_once("POST", r"/v1/payment_intents$", 2.5)
    with pytest.raises(gateway.GatewayTimeout):
        services.payment_process(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id is None and payment.attempts == 1
    time.sleep(1.6)  # let the proxy finish the held request
    payment = services.payment_process(payment_id=payment.pk)
    assert payment.status == "succeeded"
    assert len(intents_for(payment.idempotency_key)) == 1
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 1700
    assert_ledger_balanced()


def _worker(api_base: str, queue: str, log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "STRIPE_API_BASE": api_base,
        "STRIPE_SECRET_KEY": "sk_test_billing",
        "STRIPE_TIMEOUT_SECONDS": "60",
        "BILLING_MODE": "prepaid",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "worker",
            "-Q",
            queue,
            "--pool=solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_worker_killed_between_charge_and_ledger_write(stripe_server, proxy, renter, tmp_path):
    """A real worker is SIGKILLed after Stripe charged but before it could write the ledger; a retry charges nothing more."""
    from billing import tasks

    add_card(renter)
    payment = services.topup_create(actor=renter, amount=4200)
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    proxy.delay_once("POST", r"/v1/payment_intents/\w+/confirm", 60)  # the charge happens; its answer never arrives
    worker = _worker(proxy.url, queue, tmp_path / "worker1.log")
    try:
        tasks.process_payment.apply_async(args=[payment.pk], queue=queue)
        # Wait until Stripe has charged the card (seen directly on localstripe, not through the proxy).
        wait_for(
            lambda: (
                Payment.objects.filter(pk=payment.pk).exclude(stripe_payment_intent_id=None).exists()
                and gateway.retrieve_payment_intent(Payment.objects.get(pk=payment.pk).stripe_payment_intent_id)[
                    "status"
                ]
                == "succeeded"
            )
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    payment.refresh_from_db()
    assert payment.status == "pending"  # the worker died before recording anything
    assert LedgerTransaction.objects.count() == 0
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 0

    # The sweep hands the payment to a fresh worker (a real one again), which reconciles.
    worker2 = _worker(stripe_server.url, queue, tmp_path / "worker2.log")
    try:
        tasks.process_payment.apply_async(args=[payment.pk], queue=queue)
        wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "succeeded", timeout=30)
    finally:
        os.killpg(worker2.pid, signal.SIGTERM)
        try:
            worker2.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker2.pid, signal.SIGKILL)
    assert [pi["status"] for pi in intents_for(payment.idempotency_key)] == ["succeeded"]
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 4200
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert_ledger_balanced()


def test_every_money_call_carries_a_key_derived_from_our_record(stripe_server, proxy, renter, staff, settings):
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=3000)
    settings.STRIPE_API_BASE = proxy.url
    payment = services.payment_process(payment_id=payment.pk)
    refund = services.refund_create(actor=staff, payment_id=payment.pk, amount=100, reason="test")
    posts = [(path, key) for method, path, key in proxy.seen if method == "POST"]
    pi = payment.stripe_payment_intent_id
    assert posts == [
        ("/v1/payment_intents", f"payment-{payment.pk}-v1-create"),
        (f"/v1/payment_intents/{pi}/confirm", f"payment-{payment.pk}-v1-confirm"),
        ("/v1/refunds", f"refund-{refund.pk}-v1"),
    ]


def test_capture_timeout_in_card_mode_settles_once(stripe_server, proxy, renter, owner, settings):
    """The capture reaches Stripe but its answer times out: the sweep re-reads the intent, captures nothing more."""
    from datetime import UTC, datetime, timedelta

    import time_machine

    from billing import integration
    from billing.models import BookingCharge
    from marketplace.celery import app
    from scheduling import services as engine
    from tests import factories

    settings.BILLING_MODE = "card_per_booking"
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    add_card(renter)
    t10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    app.conf.task_always_eager = True
    try:
        with time_machine.travel(datetime(2026, 11, 30, 8, 0, tzinfo=UTC), tick=False):
            booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, t10, 600))
    finally:
        app.conf.task_always_eager = False
    assert BookingCharge.objects.get(booking_id=booking.pk).state == "held"
    settings.STRIPE_API_BASE = proxy.url
    settings.STRIPE_TIMEOUT_SECONDS = 1
    proxy.delay_once("POST", r"/v1/payment_intents/\w+/capture", 2.5)
    with time_machine.travel(t10 + timedelta(seconds=300), tick=True):
        engine.booking_release(actor=renter, booking_id=booking.pk)  # hook: settle -> capture times out
        charge = BookingCharge.objects.get(booking_id=booking.pk)
        assert (charge.state, charge.charged_amount) == ("settling", 500)
        assert LedgerTransaction.objects.filter(kind="charge").count() == 0
        time.sleep(1.8)  # the held answer is delivered to nobody
        assert integration.sweep()["settled"] == 1
    charge.refresh_from_db()
    payment = Payment.objects.get(booking_id=booking.pk)
    assert (charge.state, payment.status, payment.captured_amount) == ("settled", "succeeded", 500)
    assert [p for m, p, _ in proxy.seen if m == "POST" and p.endswith("/capture")] == [
        f"/v1/payment_intents/{payment.stripe_payment_intent_id}/capture"
    ]
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == 500
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 450
    assert LedgerTransaction.objects.filter(kind="charge").count() == 1
    assert_ledger_balanced()


def test_payments_sweep_drives_a_forgotten_payment(stripe_server, renter):
    """A top-up whose task message was lost (broker down) is found by the sweep and charged once."""
    from datetime import timedelta

    from billing import tasks
    from marketplace.celery import app
    from marketplace.lib import clock

    add_card(renter)
    payment = services.topup_create(actor=renter, amount=900)
    Payment.objects.filter(pk=payment.pk).update(updated_at=clock.now() - timedelta(minutes=5))
    app.conf.task_always_eager = True
    try:
        assert tasks.sweep_payments() == 1
        assert tasks.sweep_payments() == 0
    finally:
        app.conf.task_always_eager = False
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 900
    assert_ledger_balanced()
