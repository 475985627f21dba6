"""Money under concurrency: parallel bookings of one renter cannot spend the same balance (real threads, real commits)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from billing import integration, ledger
from billing.models import BookingCharge
from marketplace.lib.errors import DomainError
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.billing.conftest import assert_ledger_balanced, ensure_predefined_profiles, fund

pytestmark = [pytest.mark.django_db(transaction=True)]
K = ledger.Kind
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_parallel_bookings_never_overspend_the_balance(renter, owner, settings):
    settings.BILLING_MODE = "prepaid"
    settings.BILLING_FUNDS_CHECK = True
    ensure_predefined_profiles()
    integration.register_with_engine()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    fund(renter, 3500)  # enough for three 10-minute slices at 1000
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        try:
            barrier.wait()
            engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=i), 600))
            outcomes.append("confirmed")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    with time_machine.travel(datetime(2026, 11, 30, 8, 0, tzinfo=UTC), tick=True):
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert sorted(outcomes) == ["confirmed"] * 3 + ["insufficient_funds"] * 5
    assert Booking.objects.filter(state="confirmed").count() == 3
    assert BookingCharge.objects.filter(state="held").count() == 3
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 500
    assert ledger.balance_of(K.RENTER_HOLDS, "USD", renter) == 3000
    assert_ledger_balanced()


def test_parallel_payout_requests_pay_the_earnings_once(owner):
    from billing import services
    from billing.models import ConnectedAccount, Payout

    ConnectedAccount.objects.create(user=owner, stripe_account_id="acct_test", payouts_enabled=True)
    ledger.post_transaction(
        kind="charge",
        idempotency_key="earned",
        lines=[
            (ledger.account(K.STRIPE_CLEARING, "USD"), 5000),
            (ledger.account(K.OWNER_PAYABLE, "USD", owner), -5000),
        ],
    )
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            barrier.wait()
            services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand")
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict"] * 5 + ["created"]
    assert list(Payout.objects.values_list("amount", "status")) == [(5000, "created")]
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 0
    assert_ledger_balanced()
