"""Little personal data shown (issue 14, item 9): users appear to each other under a public handle
they choose, never their email; owners see renters by handle too."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import DomainEvent
from scheduling import services as market
from tests import factories
from tests.conftest import login
from tests.market_fixtures import _engine_only, _frozen_calendar  # noqa: F401 - the engine's calendar

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_new_user_gets_a_random_handle_not_derived_from_the_email():
    users = [factories.UserFactory(email=f"jane.doe{i}@example.test") for i in range(3)]
    handles = [u.handle for u in users]
    assert all(re.fullmatch(r"user-[0-9a-f]{8}", h) for h in handles)
    assert len(set(handles)) == 3
    assert all("jane" not in h and "doe" not in h for h in handles)
    assert str(users[0]) == users[0].handle  # what a page shows of a user, wherever it prints one


def test_the_owner_chooses_a_handle_in_the_account_settings(owner):
    client = login(owner)
    assert owner.handle in client.get(reverse("accounts:handle")).content.decode()
    response = client.post(reverse("accounts:handle"), {"handle": "North-Cloud-42"}, follow=True)
    assert "Your public handle is now north-cloud-42." in response.content.decode()
    before = owner.handle
    owner.refresh_from_db()
    assert owner.handle == "north-cloud-42"
    event = DomainEvent.objects.get(verb="user.handle_changed")
    assert event.data == {"from": before, "to": "north-cloud-42"}
    assert 'href="/account/handle/"' in client.get(reverse("renters:settings")).content.decode()


@pytest.mark.parametrize(
    ("handle", "error"),
    [
        ("ab", "Use 3 to 30 characters."),
        ("x" * 31, "at most 30 characters"),
        ("jane@example.test", "Use lowercase letters, digits and single hyphens"),
        ("-edge", "Use lowercase letters, digits and single hyphens"),
        ("a--b", "Use lowercase letters, digits and single hyphens"),
        ("Admin", "This handle is reserved"),
        ("taken-one", "This handle is taken"),
    ],
)
def test_a_handle_that_cannot_be_used_is_a_form_error(owner, handle, error):
    User.objects.filter(pk=factories.renter().pk).update(handle="taken-one")
    before = owner.handle
    response = login(owner).post(reverse("accounts:handle"), {"handle": handle})
    assert response.status_code == 200 and error in response.content.decode()
    owner.refresh_from_db()
    assert owner.handle == before
    assert not DomainEvent.objects.filter(verb="user.handle_changed").exists()


def test_public_offering_pages_show_the_owner_handle_never_the_email(owner):
    User.objects.filter(pk=owner.pk).update(handle="north-cloud")
    offer = factories.offering(owner, publish=True)
    for client in (login(factories.renter()), Client()):  # a renter, anonymous
        for url in ("/offerings/", f"/offerings/{offer.pk}/"):
            html = client.get(url).content.decode()
            assert "north-cloud" in html, url
            assert owner.email not in html and owner.display_name not in html, url


def test_owners_see_renters_by_handle_on_their_bookings_and_revenue(owner, renter):
    User.objects.filter(pk=renter.pk).update(handle="quiet-renter")
    offer = factories.offering(owner, publish=True)
    market.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    client = login(owner)
    market_page = client.get("/owner/market/").content.decode()
    assert "quiet-renter" in market_page
    for url in ("/owner/market/", reverse("billing:owner_revenue"), reverse("owners:dashboard")):
        html = client.get(url).content.decode()
        assert renter.email not in html and renter.display_name not in html, url


def test_the_api_says_who_you_are_with_your_handle(renter):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(renter)
    body = api.get("/api/v1/me").json()
    assert body["handle"] == renter.handle
