"""Paying in, against a real localstripe: cards, top-ups, declines, retries that must not charge twice."""

from __future__ import annotations

import pytest

from billing import ledger, services
from billing import stripe_gateway as gateway
from billing.models import LedgerTransaction, Payment, PaymentMethod, StripeCustomer
from tests.billing.conftest import add_card, assert_ledger_balanced

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
K = ledger.Kind


def test_add_card_creates_customer_once_and_default_card(stripe_server, renter):
    first = add_card(renter)
    second = add_card(renter)
    assert StripeCustomer.objects.filter(user=renter).count() == 1
    assert first.is_default and not PaymentMethod.objects.get(pk=second.pk).is_default
    assert first.last4 == "4242"
    remote = gateway.retrieve_payment_method(first.stripe_id)
    assert remote["customer"] == StripeCustomer.objects.get(user=renter).stripe_id


def test_card_setup_of_someone_else_is_refused(stripe_server, renter):
    from tests import factories

    other = factories.renter()
    setup = services.card_setup_start(actor=other)
    gateway.confirm_setup_intent(setup["setup_intent_id"], payment_method="pm_card_visa")
    services.customer_ensure(user=renter)
    with pytest.raises(services.PermissionDeniedError):
        services.card_setup_complete(actor=renter, setup_intent_id=setup["setup_intent_id"])
    assert PaymentMethod.objects.filter(user=renter).count() == 0


def test_topup_succeeds_and_posts_once(stripe_server, renter):
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=2500)
    assert payment.idempotency_key == f"payment-{payment.pk}-v1"
    payment = services.payment_process(payment_id=payment.pk)
    assert payment.status == "succeeded"
    assert payment.captured_amount == 2500
    remote = gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
    assert remote["status"] == "succeeded" and remote["amount"] == 2500
    assert remote["metadata"]["idempotency_key"] == payment.idempotency_key
    # a retried task changes nothing
    services.payment_process(payment_id=payment.pk)
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2500
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == 2500
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert_ledger_balanced()


def test_declined_card_fails_cleanly(stripe_server, renter):
    add_card(renter, "pm_card_chargeCustomerFail")  # 4000000000000341: attaches, declines at charge time
    payment = services.topup_create(actor=renter, amount=1000)
    payment = services.payment_process(payment_id=payment.pk)
    assert payment.status == "failed"
    assert payment.failure_code == "card_declined"
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 0
    assert LedgerTransaction.objects.count() == 0
    # retrying a failed payment does not charge
    assert services.payment_process(payment_id=payment.pk).status == "failed"


def test_topup_refused_without_card_or_below_minimum(stripe_server, renter):
    with pytest.raises(services.NoPaymentMethod):
        services.topup_create(actor=renter, amount=1000)
    add_card(renter)
    with pytest.raises(services.ValidationFailed):
        services.topup_create(actor=renter, amount=499)
    assert Payment.objects.count() == 0


def test_topup_refused_in_card_per_booking_mode(stripe_server, renter, settings):
    settings.BILLING_MODE = "card_per_booking"
    add_card(renter)
    with pytest.raises(services.DomainError, match="per booking"):
        services.topup_create(actor=renter, amount=1000)


def test_retry_after_crash_between_create_and_record_charges_once(stripe_server, renter):
    """A worker that created the PaymentIntent but died before saving its id: the retry finds it, not a new one."""
    add_card(renter)
    payment = services.topup_create(actor=renter, amount=1500)
    customer = StripeCustomer.objects.get(user=renter).stripe_id
    orphan = gateway.create_payment_intent(
        amount=1500,
        currency="USD",
        customer=customer,
        payment_method=payment.payment_method.stripe_id,
        capture_method="automatic",
        metadata={"idempotency_key": payment.idempotency_key, "payment_id": str(payment.pk)},
        idempotency_key=f"{payment.idempotency_key}-create",
    )
    Payment.objects.filter(pk=payment.pk).update(attempts=1)  # the dead attempt had counted itself
    payment = services.payment_process(payment_id=payment.pk)
    assert payment.stripe_payment_intent_id == orphan["id"]
    assert payment.status == "succeeded"
    intents = gateway.client().v1.payment_intents.list(params={"limit": 100}).to_dict()["data"]
    assert [pi["id"] for pi in intents if pi["metadata"].get("idempotency_key") == payment.idempotency_key] == [
        orphan["id"]
    ]
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 1500
    assert_ledger_balanced()


def test_refund_of_topup(stripe_server, renter, staff):
    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=3000).pk)
    refund = services.refund_create(actor=staff, payment_id=payment.pk, amount=1000, reason="customer asked")
    assert refund.status == "succeeded" and refund.stripe_refund_id.startswith("re_")
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2000
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == 2000
    with pytest.raises(services.ValidationFailed):
        services.refund_create(actor=staff, payment_id=payment.pk, amount=2001, reason="too much")
    with pytest.raises(services.PermissionDeniedError):
        services.refund_create(actor=renter, payment_id=payment.pk, amount=1, reason="me")
    assert_ledger_balanced()


def test_topup_through_the_api(stripe_server, renter):
    from tests.conftest import login

    add_card(renter)
    client = login(renter)
    response = client.post("/api/v1/billing/topups", {"amount": 1200}, content_type="application/json")
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["amount"]) == ("succeeded", 1200)
    assert client.get("/api/v1/billing/balance").json()["available"] == 1200
    refused = client.post("/api/v1/billing/topups", {"amount": 10}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid"
    assert Payment.objects.count() == 1


def test_admin_refund_action(stripe_server, renter, staff):
    from tests.conftest import login

    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=2000).pk)
    client = login(staff)
    form = client.post("/admin/billing/payment/", {"action": "refund", "_selected_action": [payment.pk]})
    assert form.status_code == 200 and b"Refund to card" in form.content
    done = client.post(
        "/admin/billing/payment/",
        {
            "action": "refund",
            "_selected_action": [payment.pk],
            "apply": "1",
            "amount": "7.00",  # issue 12: typed in major units (it was 700 minor units)
            "reason": "duplicate top-up",
        },
    )
    assert done.status_code == 302
    refund = payment.refunds.get()
    assert (refund.amount, refund.status, refund.actor_id, refund.reason) == (
        700,
        "succeeded",
        staff.pk,
        "duplicate top-up",
    )
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 1300
    assert_ledger_balanced()


def test_only_the_gateway_imports_stripe():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "billing"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "stripe_gateway.py"
        and any(line.strip().startswith(("import stripe", "from stripe")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
