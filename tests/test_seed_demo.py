"""seed_demo loads owners, offerings of every pricing model, funded renters and a live market on them
(fixed-price bookings, an open auction round with bids, a quoted dynamic price), and is safe to run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from accounts.models import User
from billing.ledger import balance_of
from owners.models import Offering, PricingPolicy
from scheduling.models import AuctionRound, Booking, PriceHistory, Quote
from tests.concurrency.invariant import overbooked_offerings

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 8, 0, 30, tzinfo=UTC)  # a Monday morning, half a minute into a grid cell


@pytest.fixture(autouse=True)
def _calendar():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def _debug_on(settings):  # type: ignore[no-untyped-def]
    # seed_demo runs only with DEBUG on, as `make run` has it; the test runner turns DEBUG off.
    settings.DEBUG = True


def _counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Offering.objects.count(),
        PricingPolicy.objects.count(),
        Booking.objects.count(),
        AuctionRound.objects.count(),
        Quote.objects.count(),
        PriceHistory.objects.count(),
    )


def test_seed_demo_twice_gives_the_same_marketplace(capsys):
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
    assert set(PricingPolicy.objects.values_list("model", flat=True)) == {"fixed", "auction", "dynamic"}
    assert set(Offering.objects.values_list("status", flat=True)) == {"published"}
    carol = User.objects.get(email="carol@demo.local")
    # Credited once, whatever the number of runs.
    assert balance_of("renter_balance", "EUR", carol) == 5000
    # Owners get demo earnings once, above the payout minimum, to try a payout with (issue 12, point 8).
    assert balance_of("owner_payable", "EUR", User.objects.get(email="alice@demo.local")) == 2500
    assert "carol@demo.local / demo-pass-2026" in capsys.readouterr().out


def test_seed_demo_opens_a_live_market_through_the_engine(capsys):
    call_command("seed_demo")

    bookings = Booking.objects.select_related("renter", "offering", "profile")
    fixed = bookings.filter(pricing_model="fixed")
    assert sorted((b.renter.email, b.profile.name, b.state) for b in fixed) == [
        ("carol@demo.local", "Large", "confirmed"),
        ("carol@demo.local", "Small", "confirmed"),
        ("dave@demo.local", "Medium", "confirmed"),
    ]
    assert all(b.starts_at >= NOW - timedelta(seconds=60) and b.total_price for b in fixed)
    # One starts within the provisioning lead time (a minute): the worker launches it on the simulator.
    assert fixed.filter(starts_at__lte=NOW + timedelta(seconds=60)).count() == 1
    assert {b.offering.cloud.driver for b in bookings} == {"simulator"}

    (round_,) = AuctionRound.objects.all()
    assert (round_.state, round_.bids_count) == ("open", 2)
    assert round_.closes_at > NOW
    bids = bookings.filter(auction_round=round_)
    assert sorted((b.renter.email, b.state, b.bid_amount) for b in bids) == [
        ("carol@demo.local", "requested", 6),
        ("dave@demo.local", "requested", 8),
    ]

    (dynamic,) = bookings.filter(pricing_model="dynamic")
    assert (dynamic.renter.email, dynamic.state) == ("dave@demo.local", "confirmed")
    assert dynamic.quote is not None and dynamic.quote.used_at is not None
    assert dynamic.unit_price == dynamic.quote.unit_price

    assert not bookings.filter(state="rejected").exists()
    assert overbooked_offerings() == []
    assert "bid on Frankfurt night auction" in capsys.readouterr().out


def test_a_later_run_books_a_fresh_market_once_the_demo_bookings_are_over():
    call_command("seed_demo")
    before = Booking.objects.count()

    with time_machine.travel(NOW + timedelta(days=8), tick=True):
        call_command("seed_demo")
        later = Booking.objects.count()
        call_command("seed_demo")
        assert Booking.objects.count() == later

    assert later == before * 2
    assert AuctionRound.objects.filter(closes_at__gt=NOW + timedelta(days=8)).count() == 1
    assert overbooked_offerings() == []


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match=r"only with DEBUG on \(DJANGO_DEBUG=true\)"):
        call_command("seed_demo")
    # Nothing was loaded: no demo users with the published password.
    assert not User.objects.exists()
    assert not Offering.objects.exists()


@pytest.mark.parametrize(("debug", "installed"), [("true", True), ("false", False)])
def test_the_demo_app_is_installed_only_with_debug_on(debug, installed):
    """With DJANGO_DEBUG off there is no demo app: no seed_demo, no devstripe command at all."""
    env = os.environ | {
        "DJANGO_DEBUG": debug,
        "DJANGO_SECRET_KEY": "x" * 50,
        "MARKETPLACE_SECRETS_KEY": "A" * 43 + "=",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "DJANGO_ALLOWED_HOSTS": "market.example.com",  # required with DEBUG off (issue 14 item 6)
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "DATABASE_ALLOW_INSECURE": "true",  # the suite's PostgreSQL and Redis are plain TCP on loopback
        "REDIS_ALLOW_INSECURE": "true",
    }
    probe = (
        "import django; django.setup()\n"
        "from django.apps import apps\n"
        "from django.core.management import get_commands\n"
        "print(apps.is_installed('demo'), 'seed_demo' in get_commands(), 'devstripe' in get_commands())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[1],
        env=env | {"DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == [str(installed)] * 3
