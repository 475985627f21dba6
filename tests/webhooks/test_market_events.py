"""Bids and auctions, and billing's news, as webhook events: written in their own transactions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction

from billing import services as billing
from billing.models import Payment, Payout
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.webhooks.conftest import T10
from tests.webhooks.helpers import buy, endpoint
from webhooks.models import Event

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/in"
BIDS = ["bid.placed", "bid.outbid", "bid.won", "booking.confirmed", "booking.rejected"]


def _types(user):  # type: ignore[no-untyped-def]
    return list(Event.objects.filter(user=user).order_by("id").values_list("type", flat=True))


def _data(user, type_):  # type: ignore[no-untyped-def]
    return json.loads(Event.objects.get(user=user, type=type_).body)["data"]


def test_bids_placed_raised_won_and_outbid(owner):
    offer = factories.auction_offering(owner, reserve=10, rule="uniform", closes=600)  # four Smalls fit
    renters = [factories.renter() for _ in range(5)]
    for r in renters:
        factories.fund_renter(r, 1_000_000)
        endpoint(r, URL, BIDS)
    sid = factories.slice_id(offer, T10, 600)
    bids = [
        engine.booking_request(actor=r, slice_id=sid, bid=amount)
        for r, amount in zip(renters, ["0.10", "0.20", "0.30", "0.40", "0.50"], strict=True)
    ]
    engine.booking_request(actor=renters[4], slice_id=sid, bid="0.60")  # a raise
    assert _types(renters[4]) == ["bid.placed", "bid.placed"]
    assert _data(renters[0], "bid.placed")["bid"] == 10
    with time_machine.travel(T10 - timedelta(minutes=5), tick=False):
        assert engine.auctions_clear_due().winners == 4
    assert _types(renters[0]) == ["bid.placed", "bid.outbid"]
    assert _data(renters[0], "bid.outbid")["booking"]["state"] == "outbid"
    for r, b in zip(renters[1:], bids[1:], strict=True):
        assert _types(r)[-2:] == ["bid.won", "booking.confirmed"]
        won = _data(r, "bid.won")
        assert won["booking"]["id"] == b.pk and won["clearing_price"] == 10  # uniform: the highest losing bid


def test_a_clearing_that_rolls_back_writes_no_event(owner):
    offer = factories.auction_offering(owner, reserve=10, rule="uniform", closes=600)
    r = factories.renter()
    factories.fund_renter(r, 1_000_000)
    endpoint(r, URL, BIDS)
    engine.booking_request(actor=r, slice_id=factories.slice_id(offer, T10, 600), bid="0.20")
    with time_machine.travel(T10 - timedelta(minutes=5), tick=False), pytest.raises(RuntimeError), transaction.atomic():
        engine.auctions_clear_due()
        assert "bid.won" in _types(r)
        raise RuntimeError("rolled back")
    assert _types(r) == ["bid.placed"]
    assert Booking.objects.get(renter=r).state == "requested"


def test_the_final_charge_is_an_event_when_billing_settles(owner, renter, django_capture_on_commit_callbacks):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    endpoint(renter, URL, ["booking.ended", "booking.charged"])
    with django_capture_on_commit_callbacks(execute=True):
        booking = buy(renter, offer)
    with django_capture_on_commit_callbacks(execute=True):
        engine.booking_release(actor=renter, booking_id=booking.pk)  # billing settles after commit
    assert _types(renter) == ["booking.ended", "booking.charged"]
    charged = _data(renter, "booking.charged")
    ended = _data(renter, "booking.ended")
    assert charged["booking"] == booking.pk and charged["outcome"] == "released"
    assert charged["amount"] == ended["charge"]["amount"] and charged["currency"] == "USD"
    assert Event.objects.get(type="booking.charged").booking_id == booking.pk  # ordered after ended


def test_a_failed_payment_is_an_event(renter):
    endpoint(renter, URL, ["payment.failed"])
    payment = Payment.objects.create(
        user=renter, purpose="topup", amount=5000, currency="USD", idempotency_key="p1", status="pending"
    )
    with transaction.atomic():
        billing.payment_apply_remote(
            payment_id=payment.pk,
            remote={"status": "requires_payment_method", "last_payment_error": {"message": "Your card was declined."}},
        )
    data = _data(renter, "payment.failed")
    assert data == {
        "amount": 5000,
        "currency": "USD",
        "message": "Your card was declined.",
        "payment": payment.pk,
    }


def test_a_paid_payout_is_an_event_for_its_owner(owner):
    endpoint(owner, URL, ["payout.paid"])
    payout = Payout.objects.create(
        owner=owner, amount=12345, currency="USD", trigger="on_demand", idempotency_key="po1", status="pending"
    )
    billing.payout_apply_remote(payout_id=payout.pk, remote={"id": "tr_123"})
    assert _data(owner, "payout.paid") == {"amount": 12345, "currency": "USD", "payout": payout.pk}
    billing.payout_apply_remote(payout_id=payout.pk, remote={"id": "tr_123"})  # told again: no new event
    assert _types(owner) == ["payout.paid"]


def test_a_hold_that_takes_the_balance_below_the_threshold_is_told_once(owner, django_capture_on_commit_callbacks):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    r = factories.renter()
    factories.fund_renter(r, 1100)  # 11.00 USD; "low" is below 10.00 (BILLING_BALANCE_LOW)
    endpoint(r, URL, ["balance.low"])
    with django_capture_on_commit_callbacks(execute=True):
        engine.booking_request(actor=r, slice_id=factories.slice_id(offer, T10, 600))  # holds 2.50
    assert _data(r, "balance.low") == {"available": 850, "threshold": 1000, "currency": "USD"}
    with django_capture_on_commit_callbacks(execute=True):
        engine.booking_request(actor=r, slice_id=factories.slice_id(offer, T10 + timedelta(hours=1), 600))
    assert _types(r) == ["balance.low"]  # still low: not told again until it rises above and falls again
