"""The portal's money pages end to end against localstripe (and the Connect contract stub)."""

from __future__ import annotations

import pytest
import requests

from billing import ledger
from billing import stripe_gateway as gateway
from billing.models import ConnectedAccount, Payout
from tests import factories
from tests.conftest import login

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
K = ledger.Kind


def test_renter_adds_a_card_and_tops_up_from_the_portal(stripe_server, renter):
    client = login(renter)
    page = client.get("/billing/cards/add")
    assert page.status_code == 200
    setup = page.context["setup"]
    assert setup["client_secret"].startswith(setup["setup_intent_id"] + "_secret_")
    assert "/js.stripe.com/v3/" in page.content.decode()
    gateway.confirm_setup_intent(setup["setup_intent_id"], payment_method="pm_card_visa")  # what Stripe.js does
    assert client.post("/billing/cards/added", {"setup_intent": setup["setup_intent_id"]}).status_code == 302
    response = client.post("/billing/topup", {"amount": "25.00", "currency": "USD"}, follow=True)
    assert "25.00 USD added to your balance." in response.content.decode()
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2500
    bad = client.post("/billing/topup", {"amount": "25.001", "currency": "USD"}, follow=True)
    assert "more than 2 decimal places" in bad.content.decode()
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2500


def test_owner_onboards_and_requests_a_payout_from_the_portal(stripe_server, owner):
    client = login(owner)
    response = client.post("/billing/owner/connect")
    assert response.status_code == 302 and response["Location"].startswith(
        f"{stripe_server.url}/_config/connect/onboarding/acct_"
    )
    account = ConnectedAccount.objects.get(user=owner)
    requests.post(f"{stripe_server.url}/_config/contract/accounts/{account.stripe_account_id}/enable", timeout=5)
    page = client.get("/billing/owner/connect/return", follow=True)
    assert "Payouts are enabled." in page.content.decode()
    ledger.post_transaction(
        kind="charge",
        idempotency_key="earned",
        lines=[
            (ledger.account(K.STRIPE_CLEARING, "USD"), 5000),
            (ledger.account(K.OWNER_PAYABLE, "USD", owner), -5000),
        ],
    )
    page = client.post("/billing/owner/payouts", {"currency": "USD"}, follow=True)
    assert "Payout of 50.00 USD: Paid." in page.content.decode()
    assert Payout.objects.get().status == "paid"
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 0


def test_cards_through_the_api(stripe_server, renter):
    client = login(renter)
    setup = client.post("/api/v1/billing/cards/setup").json()
    assert setup["publishable_key"] and setup["client_secret"].startswith(setup["setup_intent_id"])
    gateway.confirm_setup_intent(setup["setup_intent_id"], payment_method="pm_card_visa")
    card = client.post(
        "/api/v1/billing/cards", {"setup_intent": setup["setup_intent_id"]}, content_type="application/json"
    )
    assert card.status_code == 201 and card.json()["last4"] == "4242" and card.json()["is_default"] is True
    assert [c["last4"] for c in client.get("/api/v1/billing/cards").json()] == ["4242"]
    other = login(factories.renter())
    stolen = other.post(
        "/api/v1/billing/cards", {"setup_intent": setup["setup_intent_id"]}, content_type="application/json"
    )
    assert stolen.status_code == 404  # no customer of theirs started it
    assert other.get("/api/v1/billing/cards").json() == []


def test_a_topup_stripe_cannot_take_now_is_left_to_the_worker(stripe_server, renter, monkeypatch):
    """The view queues nothing itself: the service sends process_payment by name after commit (run here
    in-process, eager), and the portal says the top-up is on its way."""
    from billing.models import Payment
    from billing.services import payments
    from marketplace.celery import app
    from tests.billing.conftest import add_card

    def unreachable(**kwargs):  # type: ignore[no-untyped-def]
        raise gateway.GatewayTimeout("Stripe did not answer")

    add_card(renter)
    client = login(renter)
    monkeypatch.setattr(payments, "payment_process", unreachable)  # the view's own attempt only
    app.conf.task_always_eager = True
    try:
        response = client.post("/billing/topup", {"amount": "25.00", "currency": "USD"}, follow=True)
    finally:
        app.conf.task_always_eager = False
    assert "Your top-up is being processed; your balance updates when the card is charged." in response.content.decode()
    assert Payment.objects.get().status == "succeeded"  # the worker's task charged it
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2500


def test_a_payout_queued_while_the_broker_is_down_is_found_by_the_sweep(stripe_server, owner, monkeypatch):
    """Stripe unreachable and the broker too: the API still answers, and sweep_payments pays it later."""
    from datetime import timedelta

    from billing import tasks
    from billing.services import payouts
    from marketplace.celery import app
    from marketplace.lib import clock

    def unreachable(**kwargs):  # type: ignore[no-untyped-def]
        raise gateway.GatewayTimeout("Stripe did not answer")

    def broker_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("broker unreachable")

    client = login(owner)
    client.post("/billing/owner/connect")
    account = ConnectedAccount.objects.get(user=owner)
    requests.post(f"{stripe_server.url}/_config/contract/accounts/{account.stripe_account_id}/enable", timeout=5)
    client.get("/billing/owner/connect/return")
    ledger.post_transaction(
        kind="charge",
        idempotency_key="earned",
        lines=[
            (ledger.account(K.STRIPE_CLEARING, "USD"), 5000),
            (ledger.account(K.OWNER_PAYABLE, "USD", owner), -5000),
        ],
    )
    monkeypatch.setattr(payouts, "payout_process", unreachable)
    monkeypatch.setattr(app.tasks["billing.tasks.process_payout"], "apply_async", broker_down)
    response = client.post("/api/v1/billing/payouts", {"currency": "USD"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["status"] == "created"
    monkeypatch.undo()
    Payout.objects.update(updated_at=clock.now() - timedelta(minutes=5))
    app.conf.task_always_eager = True
    try:
        assert tasks.sweep_payments() == 1
    finally:
        app.conf.task_always_eager = False
    assert Payout.objects.get().status == "paid"
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 0
