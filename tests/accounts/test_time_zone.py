"""Issue 15 item 1: the user's time zone is a setting of the account, taken from the browser until chosen."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import DomainEvent
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_a_new_user_has_no_zone_and_pages_say_utc_and_report_the_browsers():
    user = factories.renter()
    assert user.timezone == "" and user.time_zone_name == "UTC"
    html = login(user).get(reverse("accounts:timezone")).content.decode()
    assert 'Times in <span id="time-zone-name">UTC</span>' in html
    # The browser's zone is reported from an external script (the CSP allows no inline script).
    assert f'<meta name="timezone-report" content="{reverse("accounts:timezone_detected")}"' in html
    assert "js/timezone.js" in html and "<script>" not in html
    assert 'data-browser-timezone="if-empty"' in html


def test_the_browsers_zone_is_taken_once_and_never_over_a_choice():
    user = factories.renter()
    c = login(user)
    r = c.post(reverse("accounts:timezone_detected"), {"timezone": "Europe/Paris"})
    assert r.status_code == 200 and r.json() == {"taken": True, "timezone": "Europe/Paris"}
    again = c.post(reverse("accounts:timezone_detected"), {"timezone": "America/New_York"})
    assert again.json() == {"taken": False, "timezone": "Europe/Paris"}
    user.refresh_from_db()
    assert user.timezone == "Europe/Paris"
    page = c.get(reverse("accounts:timezone")).content.decode()
    assert "timezone-report" not in page and 'Times in <span id="time-zone-name">Europe/Paris</span>' in page
    assert DomainEvent.objects.filter(verb="user.timezone_changed", actor_id=user.pk).count() == 1


def test_an_unknown_browser_zone_is_a_400_and_changes_nothing():
    user = factories.renter()
    r = login(user).post(reverse("accounts:timezone_detected"), {"timezone": "Mars/Olympus"})
    assert r.status_code == 400 and "not a known time zone" in r.json()["detail"]
    user.refresh_from_db()
    assert user.timezone == ""
    assert Client().post(reverse("accounts:timezone_detected"), {"timezone": "Europe/Paris"}).status_code == 302


def test_the_user_chooses_a_zone_on_the_account_page():
    user = factories.renter()
    c = login(user)
    r = c.post(reverse("accounts:timezone"), {"timezone": "Asia/Tokyo"}, follow=True)
    html = r.content.decode()
    assert "Times are now shown in Asia/Tokyo." in html
    assert '<strong data-testid="current-timezone">Asia/Tokyo</strong>' in html
    user.refresh_from_db()
    assert user.timezone == "Asia/Tokyo"
    event = DomainEvent.objects.get(verb="user.timezone_changed")
    assert event.data == {"from": "", "to": "Asia/Tokyo"}
    bad = c.post(reverse("accounts:timezone"), {"timezone": "Nowhere/City"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    user.refresh_from_db()
    assert user.timezone == "Asia/Tokyo"


def test_sign_up_takes_the_browsers_zone_from_its_hidden_field():
    page = Client().get(reverse("account_signup")).content.decode()
    assert 'data-browser-timezone="always"' in page
    r = Client().post(
        reverse("account_signup"),
        {
            "email": "tz@example.test",
            "password1": "a-Long-pass-phrase-42",
            "password2": "a-Long-pass-phrase-42",
            "role": "renter",
            "timezone": "America/Sao_Paulo",
        },
    )
    assert r.status_code == 302
    assert User.objects.get(email="tz@example.test").timezone == "America/Sao_Paulo"
