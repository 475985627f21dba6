"""Top-ups and payout requests through the API honour Idempotency-Key: a retried request moves money once."""

from __future__ import annotations

import pytest

from billing.models import Payment, Payout
from tests.billing.conftest import add_card, assert_ledger_balanced
from tests.billing.test_payouts import earn, onboard
from tests.conftest import login

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_retried_top_up_charges_once_and_replays_the_payment(stripe_server, renter):
    add_card(renter)
    client = login(renter)

    def top_up(amount: int, key: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/billing/topups", {"amount": amount}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )

    first = top_up(1200, "topup-1")
    again = top_up(1200, "topup-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = top_up(1300, "topup-1")
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1
    assert client.get("/api/v1/billing/balance").json()["available"] == 1200
    assert_ledger_balanced()


def test_a_retried_payout_request_pays_once(stripe_server, owner):
    onboard(stripe_server, owner)
    earn(owner, 4321)
    client = login(owner)

    def request_payout():  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/billing/payouts", {"currency": "USD"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="p1"
        )

    first = request_payout()
    assert first.status_code == 201, first.content
    again = request_payout()
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert list(Payout.objects.values_list("amount", flat=True)) == [4321]
    assert_ledger_balanced()


def test_a_top_up_form_sent_twice_charges_once(stripe_server, renter):
    add_card(renter)
    client = login(renter)
    form = {"amount": "25.00", "currency": "USD", "idempotency_key": "0123456789abcdef0123456789abcdef"}
    client.post("/billing/topup", form)
    again = client.post("/billing/topup", form, follow=True)
    assert "This form had already been sent, so it was not sent again." in again.content.decode()
    assert list(Payment.objects.values_list("amount", "status")) == [(2500, "succeeded")]
    assert_ledger_balanced()
