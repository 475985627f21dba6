"""Holds and per-second charges, driven by the real market engine (prepaid mode; no Stripe call involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing import integration, ledger
from billing.models import BookingCharge, LedgerTransaction, OfferingBillingPolicy
from billing.services import InsufficientFunds, SpendLimitReached
from renters.models import RenterSettings
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.billing.conftest import assert_ledger_balanced, fund

pytestmark = pytest.mark.django_db
K = ledger.Kind
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _engine(settings):  # type: ignore[no-untyped-def]
    settings.BILLING_MODE = "prepaid"
    settings.PLATFORM_FEE_PERCENT = "10"
    settings.BILLING_FUNDS_CHECK = True
    integration.register_with_engine()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    # grid 60 s, 100 per minute: a 10-minute slice costs 1000.
    return factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, preemption_notice_seconds=120
    )


def book(renter, offer, capture, start=T10, length=600):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length))


def end(booking, capture, to, at):  # type: ignore[no-untyped-def]
    with time_machine.travel(at, tick=False), capture(execute=True):
        if to == "released":
            return engine.booking_release(actor=booking.renter, booking_id=booking.pk)
        return engine.booking_transition(actor=None, booking=Booking.objects.get(pk=booking.pk), to=to)


def balances(renter, owner):  # type: ignore[no-untyped-def]
    return (
        ledger.balance_of(K.RENTER_BALANCE, "USD", renter),
        ledger.balance_of(K.RENTER_HOLDS, "USD", renter),
        ledger.balance_of(K.OWNER_PAYABLE, "USD", owner),
        ledger.balance_of(K.PLATFORM_FEES, "USD"),
    )


def test_booking_without_funds_is_refused_clearly_and_nothing_is_held(
    renter, offer, django_capture_on_commit_callbacks
):
    fund(renter, 999)
    with pytest.raises(InsufficientFunds) as exc:
        book(renter, offer, django_capture_on_commit_callbacks)
    assert "Your balance is 9.99 USD; this booking needs 10.00 USD" in exc.value.message
    assert exc.value.status_code == 402
    assert Booking.objects.get().state == "rejected"
    assert BookingCharge.objects.count() == 0
    assert balances(renter, offer.owner) == (999, 0, 0, 0)


def test_confirmed_booking_holds_the_price(renter, offer, django_capture_on_commit_callbacks):
    fund(renter, 5000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.state, charge.price, charge.mode) == ("held", 1000, "prepaid")
    assert balances(renter, offer.owner) == (4000, 1000, 0, 0)


def test_released_early_pays_per_second(renter, offer, django_capture_on_commit_callbacks):
    fund(renter, 5000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    end(booking, django_capture_on_commit_callbacks, "released", T10 + timedelta(seconds=150))
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    # 150 s of 600 s: 1000 * 150 / 600 = 250; fee 10 % = 25; owner 225
    assert (charge.state, charge.used_seconds, charge.charged_amount, charge.fee_amount) == ("settled", 150, 250, 25)
    assert balances(renter, offer.owner) == (4750, 0, 225, 25)
    assert_ledger_balanced()


def test_released_early_with_full_charge_policy_pays_the_whole_slice(
    renter, owner, offer, django_capture_on_commit_callbacks
):
    factories.price(owner, offer, price_per_unit=100, release_charge="full")
    fund(renter, 5000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    end(booking, django_capture_on_commit_callbacks, "released", T10 + timedelta(seconds=150))
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 1000
    assert balances(renter, offer.owner) == (4000, 0, 900, 100)


def test_completed_pays_the_whole_slice(renter, offer, django_capture_on_commit_callbacks):
    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    end(booking, django_capture_on_commit_callbacks, "completed", T10 + timedelta(seconds=600))
    assert balances(renter, offer.owner) == (0, 0, 900, 100)
    assert_ledger_balanced()


def test_failed_provisioning_is_refunded_in_full(renter, offer, django_capture_on_commit_callbacks):
    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    end(booking, django_capture_on_commit_callbacks, "failed", T10 + timedelta(seconds=30))
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.state, charge.charged_amount) == ("released", 0)
    assert balances(renter, offer.owner) == (1000, 0, 0, 0)
    assert_ledger_balanced()


def test_preempted_with_full_notice_pays_until_deadline_without_credit(
    renter, owner, offer, django_capture_on_commit_callbacks
):
    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    with time_machine.travel(T10 + timedelta(seconds=60), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk))  # 120 s notice as promised
    with (
        time_machine.travel(T10 + timedelta(seconds=180), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        engine.preemptions_end_due()
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    # deadline at 180 s: 1000 * 180 / 600 = 300, fee 30
    assert (charge.outcome, charge.used_seconds, charge.charged_amount, charge.credit_amount) == (
        "preempted",
        180,
        300,
        0,
    )
    assert balances(renter, owner) == (700, 0, 270, 30)


def test_preempted_with_short_notice_credits_the_renter_at_the_owners_multiple(
    renter, owner, offer, django_capture_on_commit_callbacks
):
    OfferingBillingPolicy.objects.create(offering=offer, short_notice_credit_percent=300)  # 3x
    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    with time_machine.travel(T10 + timedelta(seconds=60), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=30)
    with time_machine.travel(T10 + timedelta(seconds=90), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.preemptions_end_due()
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    # paid until the 90 s deadline: 150; fee 15. 90 s of promised notice missing: 1000 * 90 * 3 / 600 = 450 credit
    assert (charge.charged_amount, charge.fee_amount, charge.credit_amount) == (150, 15, 450)
    assert balances(renter, owner) == (1000 - 150 + 450, 0, 135 - 450, 15)
    credit = LedgerTransaction.objects.get(kind="short_notice_credit")
    assert credit.booking_id == booking.pk
    assert_ledger_balanced()


def test_never_charged_after_the_server_was_reclaimed(renter, offer):
    from billing import services

    charge = BookingCharge(
        price=1000, starts_at=T10, ends_at=T10 + timedelta(seconds=600), release_charge="prorated", offering_id=offer.pk
    )
    used, amount, credit = services.compute_charge(
        charge,
        services.BookingEnd(
            outcome="completed",
            held_until=T10 + timedelta(seconds=600),
            server_reclaimed_at=T10 + timedelta(seconds=420),
        ),
        credit_percent=200,
    )
    assert (used, amount, credit) == (420, 700, 0)


def test_spend_limit_is_respected(renter, offer, django_capture_on_commit_callbacks):
    fund(renter, 10000)
    RenterSettings.objects.create(user=renter, spend_limit=1500)
    book(renter, offer, django_capture_on_commit_callbacks)
    with pytest.raises(SpendLimitReached, match="above your limit of 15.00 USD"):
        book(renter, offer, django_capture_on_commit_callbacks, start=T10 + timedelta(hours=1))
    assert BookingCharge.objects.count() == 1
    assert balances(renter, offer.owner) == (9000, 1000, 0, 0)


def test_two_bookings_without_hold_yet_cannot_spend_the_same_money(renter, offer, django_capture_on_commit_callbacks):
    """The hook places holds after commit; a second request before that still sees the first as spent."""
    fund(renter, 1500)
    engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))  # on_commit not run: no hold
    with pytest.raises(InsufficientFunds):
        engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=1), 600))


def test_sweep_places_missing_holds_and_settles_ended_bookings(renter, offer):
    fund(renter, 3000)
    booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))  # hooks lost
    assert integration.sweep()["held"] == 1
    assert BookingCharge.objects.get(booking_id=booking.pk).state == "held"
    with time_machine.travel(T10 + timedelta(seconds=300), tick=False):
        engine.booking_release(actor=renter, booking_id=booking.pk)
        assert integration.sweep()["settled"] == 1
        assert integration.sweep() == {"held": 0, "settled": 0, "failed": 0, "errors": 0}
    assert balances(renter, offer.owner) == (2500, 0, 450, 50)
    assert_ledger_balanced()


def test_owner_sets_short_notice_multiple_and_only_their_own(owner, other_owner, offer):
    from billing import services

    policy = services.offering_billing_policy_set(actor=owner, offering_id=offer.pk, short_notice_credit_percent=250)
    assert policy.short_notice_credit_percent == 250
    with pytest.raises(services.NotFoundError):
        services.offering_billing_policy_set(actor=other_owner, offering_id=offer.pk, short_notice_credit_percent=100)
    with pytest.raises(services.ValidationFailed):
        services.offering_billing_policy_set(actor=owner, offering_id=offer.pk, short_notice_credit_percent=50)
    assert OfferingBillingPolicy.objects.get().short_notice_credit_percent == 250


def test_winning_bid_places_a_hold_and_a_win_beyond_the_funds_is_refused_at_clearing(
    renter, owner, django_capture_on_commit_callbacks
):
    """Bids are funds-checked when placed, not held; clearing asks again, holds each win, and refuses one
    that no longer fits (it takes no capacity and costs nothing)."""
    offer = factories.auction_offering(owner, reserve=10, closes=600)
    fund(renter, 1000)
    bids = []
    for i in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            bids.append(
                engine.booking_request(
                    actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=i), 600), bid="0.70"
                )
            )
    with time_machine.travel(T10 - timedelta(seconds=60), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.auctions_clear_due()  # the first round closed at T10 - 600 s
    with (
        time_machine.travel(T10 + timedelta(seconds=3300), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        engine.auctions_clear_due()  # the second at T10 + 3000 s
    first, second = (Booking.objects.get(pk=b.pk) for b in bids)
    assert (first.state, first.total_price) == ("confirmed", 700)
    assert BookingCharge.objects.get(booking_id=first.pk).state == "held"
    assert second.state == "rejected" and "Your balance is 3.00 USD" in second.reason
    assert not BookingCharge.objects.filter(booking_id=second.pk).exists()
    assert balances(renter, owner) == (300, 700, 0, 0)


def test_charged_time_follows_provisioning_metering(renter, owner, offer, django_capture_on_commit_callbacks):
    """The server reached the renter 40 s into the slice and was reclaimed at 400 s: 360 s are charged."""
    from provisioning.models import Server

    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    Server.objects.create(
        booking_id=booking.pk,
        cloud=offer.cloud,
        name="s",
        state="deleted",
        held_from=T10 + timedelta(seconds=40),
        held_until=T10 + timedelta(seconds=400),
    )
    end(booking, django_capture_on_commit_callbacks, "completed", T10 + timedelta(seconds=600))
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert (charge.used_seconds, charge.charged_amount, charge.fee_amount) == (360, 600, 60)
    assert balances(renter, owner) == (400, 0, 540, 60)


def test_server_never_reached_the_renter_costs_nothing(renter, owner, offer, django_capture_on_commit_callbacks):
    from provisioning.models import Server

    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    Server.objects.create(booking_id=booking.pk, cloud=offer.cloud, name="s", state="error")
    end(booking, django_capture_on_commit_callbacks, "completed", T10 + timedelta(seconds=600))
    assert BookingCharge.objects.get(booking_id=booking.pk).charged_amount == 0
    assert balances(renter, owner) == (1000, 0, 0, 0)


def test_the_notice_promised_at_purchase_is_the_one_honoured(renter, owner, offer, django_capture_on_commit_callbacks):
    fund(renter, 1000)
    booking = book(renter, offer, django_capture_on_commit_callbacks)
    assert BookingCharge.objects.get(booking_id=booking.pk).promised_notice_seconds == 120
    offer.preemption_notice_seconds = 0  # the owner lowers the promise afterwards
    offer.save(update_fields=["preemption_notice_seconds"])
    with time_machine.travel(T10 + timedelta(seconds=60), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=booking.pk), notice_seconds=0)
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    # paid for 60 s = 100; 120 s of promised notice missing at 2x: 1000 * 120 * 2 / 600 = 400
    assert (charge.outcome, charge.charged_amount, charge.credit_amount) == ("preempted", 100, 400)
    assert_ledger_balanced()
