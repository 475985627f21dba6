"""A renter sets their monthly spend limit in the portal, through renters.services.renter_settings_update: the
stored value, the audit event, the refusals, and billing refusing a booking above it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from audit.models import DomainEvent
from renters.models import RenterSettings
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import fund

pytestmark = pytest.mark.django_db

URL = "/account/settings/"
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_page_is_for_logged_in_users():
    r = Client().get(URL)
    assert r.status_code == 302 and r.url.startswith(reverse("account_login"))
    assert reverse("renters:settings") == URL


def test_renter_sets_a_limit_in_the_portal_and_it_is_stored_and_audited(renter):
    c = login(renter)
    page = c.get(URL)
    assert page.status_code == 200 and "You have no spend limit." in page.content.decode()

    r = c.post(URL, {"spend_limit": "15.00", "currency": "EUR"})
    assert r.status_code == 302 and r.url == URL
    row = RenterSettings.objects.get(user=renter)
    assert (row.spend_limit, row.currency) == (1500, "EUR")
    (event,) = DomainEvent.objects.filter(verb="renter_settings.updated")
    assert event.actor == renter and event.target_id == str(row.pk)
    assert event.data == {
        "before": {"spend_limit": None, "currency": "USD"},
        "after": {"spend_limit": 1500, "currency": "EUR"},
    }
    page = c.get(URL).content.decode()
    assert "Spend limit saved." in page and "<strong>15.00 EUR</strong> per calendar month" in page
    assert 'value="15.00"' in page  # the form shows the current limit


def test_an_empty_limit_removes_it(renter):
    c = login(renter)
    c.post(URL, {"spend_limit": "5", "currency": "USD"})
    assert c.post(URL, {"spend_limit": "", "currency": "USD"}).status_code == 302
    assert RenterSettings.objects.get(user=renter).spend_limit is None
    last = DomainEvent.objects.filter(verb="renter_settings.updated").latest("id")
    assert last.data == {
        "before": {"spend_limit": 500, "currency": "USD"},
        "after": {"spend_limit": None, "currency": "USD"},
    }
    assert "You have no spend limit." in c.get(URL).content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "A spend limit cannot be negative."),  # the service's rule
        ("1.234", "1.234 USD has more than 2 decimal places"),
        ("lots", "Enter a number."),
    ],
)
def test_a_bad_limit_is_shown_and_changes_nothing(renter, value, message):
    r = login(renter).post(URL, {"spend_limit": value, "currency": "USD"})
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not RenterSettings.objects.exists()
    assert not DomainEvent.objects.filter(verb="renter_settings.updated").exists()


def test_billing_refuses_a_booking_above_the_limit_set_in_the_portal(owner, renter):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    fund(renter, 10_000)
    c = login(renter)
    c.post(URL, {"spend_limit": "2.00", "currency": "USD"})
    with time_machine.travel(T10 - timedelta(minutes=30), tick=False):
        r = c.post(f"/market/slices/{factories.slice_id(offer, T10, 600)}/request", follow=True)  # 2.50 USD
    assert "above your limit of 2.00 USD" in r.content.decode()
    (booking,) = Booking.objects.all()  # the engine keeps the refused request, rejected, with the reason
    assert booking.state == "rejected" and "above your limit of 2.00 USD" in booking.reason


def test_spend_limit_above_the_operator_maximum_is_refused_and_kept(renter, settings):
    settings.BILLING_SPEND_LIMIT_MAX = {"*": "1000"}
    r = login(renter).post(URL, {"spend_limit": "5000", "currency": "EUR"})
    html = r.content.decode()
    assert r.status_code == 200 and "The monthly spend limit can be at most 1000.00 EUR." in html
    assert 'value="5000"' in html  # the form keeps what was typed
    assert not RenterSettings.objects.filter(user=renter, spend_limit__isnull=False).exists()
    assert not DomainEvent.objects.filter(verb="renter_settings.updated").exists()
