"""Refusals a person can read: 403 and 404 pages in the site's layout with the reason in words (JSON
under /api/), and "Become an owner" for a signed-in renter."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from audit.models import DomainEvent
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_a_renter_on_the_owner_portal_gets_a_403_page_with_the_reason_and_a_way_forward(renter):
    r = login(renter).get("/owner/")
    assert r.status_code == 403
    html = r.content.decode()
    assert "<nav>" in html and "Slice Market" in html  # the site's layout, with its navigation
    assert "You can't open this page" in html
    assert "The owner portal is for owners." in html
    assert 'href="/account/become-owner/"' in html


def test_a_missing_page_and_a_missing_offering_get_404_pages_in_words(renter):
    c = login(renter)
    r = c.get("/no-such-page/")
    assert r.status_code == 404
    html = r.content.decode()
    assert "<nav>" in html and "Nothing here" in html and "There is no page at /no-such-page/." in html
    r = c.get("/offerings/999999/")
    assert r.status_code == 404
    assert "That offering does not exist, or it is not available to you." in r.content.decode()


def test_under_api_refusals_stay_json(renter):
    r = login(renter).get("/api/v1/no-such-endpoint")
    assert r.status_code == 404 and r["Content-Type"].startswith("application/json")
    assert r.json() == {"error": "not_found", "detail": "There is no API endpoint at /api/v1/no-such-endpoint."}


def test_a_signed_in_renter_can_become_an_owner_and_keeps_renting(renter):
    c = login(renter)
    home = c.get("/").content.decode()
    assert 'href="/account/become-owner/"' in home and "/accounts/signup/" not in home.split("Owners")[1]
    page = c.get("/account/become-owner/")
    assert page.status_code == 200 and "You keep your renter account" in page.content.decode()
    r = c.post("/account/become-owner/", follow=True)
    assert r.redirect_chain[-1][0] == "/owner/" and r.status_code == 200
    assert "You are now an owner as well as a renter" in r.content.decode()
    user = User.objects.get(pk=renter.pk)
    assert (user.is_owner, user.is_renter) == (True, True)
    assert DomainEvent.objects.filter(verb="user.became_owner").count() == 1
    again = c.post("/account/become-owner/", follow=True)
    assert "You are already an owner." in again.content.decode()
    assert DomainEvent.objects.filter(verb="user.became_owner").count() == 1


def test_become_an_owner_needs_a_login_and_a_live_account():
    r = Client().post("/account/become-owner/")
    assert r.status_code == 302 and r.url.startswith("/accounts/login/")
    user = factories.renter()
    c = login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    c.post("/account/become-owner/")
    assert User.objects.get(pk=user.pk).is_owner is False
