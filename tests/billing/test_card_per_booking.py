"""Card-per-booking mode against localstripe and the real engine: authorize on confirm, capture what was used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing import integration, ledger
from billing import stripe_gateway as gateway
from billing.models import BookingCharge, LedgerTransaction, Payment
from marketplace.celery import app
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.billing.conftest import add_card, assert_ledger_balanced

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
K = ledger.Kind
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _card_mode(stripe_server, settings):  # type: ignore[no-untyped-def]
    settings.BILLING_MODE = "card_per_booking"
    integration.register_with_engine()
    app.conf.task_always_eager = True
    with time_machine.travel(NOW, tick=False):
        yield
    app.conf.task_always_eager = False


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})


def book(renter, offer):  # type: ignore[no-untyped-def]
    return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))


def test_booking_without_card_is_refused_before_it_is_made(renter, offer):
    with pytest.raises(integration.services.NoPaymentMethod):
        book(renter, offer)
    assert Booking.objects.get().state == "rejected"
    assert Payment.objects.count() == 0


def test_authorized_on_confirm_and_captured_per_second_on_release(renter, offer):
    add_card(renter)
    booking = book(renter, offer)
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    payment = Payment.objects.get(booking_id=booking.pk)
    assert (charge.state, payment.status, payment.amount) == ("held", "requires_capture", 1000)
    assert payment.idempotency_key == f"booking-{booking.pk}-charge-v1"
    assert gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)["status"] == "requires_capture"
    assert ledger.balance_of(K.RENTER_HOLDS, "USD", renter) == 1000
    with time_machine.travel(T10 + timedelta(seconds=150), tick=False):
        engine.booking_release(actor=renter, booking_id=booking.pk)
    charge.refresh_from_db()
    payment.refresh_from_db()
    assert (charge.state, charge.charged_amount, charge.fee_amount) == ("settled", 250, 25)
    assert (payment.status, payment.captured_amount) == ("succeeded", 250)
    assert gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)["status"] == "succeeded"
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == 250
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", offer.owner) == 225
    assert ledger.balance_of(K.PLATFORM_FEES, "USD") == 25
    assert ledger.balance_of(K.RENTER_HOLDS, "USD", renter) == 0
    assert ledger.balance_of(K.CARD_AUTHORIZATIONS, "USD", renter) == 0
    assert_ledger_balanced()


def test_declined_card_fails_the_booking_and_leaves_nothing_on_the_ledger(renter, offer):
    add_card(renter, "pm_card_chargeCustomerFail")  # 4000000000000341
    booking = book(renter, offer)
    assert Payment.objects.get(booking_id=booking.pk).failure_code == "card_declined"
    assert BookingCharge.objects.get(booking_id=booking.pk).state == "failed"
    booking.refresh_from_db()
    assert booking.state == "failed" and booking.reason.startswith("Payment failed")
    assert LedgerTransaction.objects.count() == 0


def test_failed_provisioning_cancels_the_authorization(renter, offer):
    add_card(renter)
    booking = book(renter, offer)
    with time_machine.travel(T10 + timedelta(seconds=20), tick=False):
        engine.booking_transition(actor=None, booking=Booking.objects.get(pk=booking.pk), to="failed")
    payment = Payment.objects.get(booking_id=booking.pk)
    assert payment.status == "canceled"
    assert gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)["status"] == "canceled"
    assert BookingCharge.objects.get(booking_id=booking.pk).state == "released"
    assert ledger.balance_of(K.RENTER_HOLDS, "USD", renter) == 0
    assert ledger.balance_of(K.STRIPE_CLEARING, "USD") == 0
    assert_ledger_balanced()
