"""The admin's login is allauth's (rate limits, MFA), and staff need a second factor (issue 14 item 4)."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.urls import reverse

from accounts.middleware import STAFF_MFA_MESSAGE
from tests import factories
from tests.conftest import login

PASSWORD = "violet-harbour-7-staff"


@pytest.fixture
def clerk(db):  # type: ignore[no-untyped-def]
    """A staff member with a password and no second factor yet."""
    from allauth.account.models import EmailAddress

    user = factories.UserFactory(is_staff=True, is_superuser=True, email="clerk@example.test")
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_admin_login_page_sends_to_allauths_login_keeping_next(db):
    client = Client()
    first = client.get("/admin/billing/payment/")
    assert first.status_code == 302 and first["Location"] == "/admin/login/?next=/admin/billing/payment/"
    second = client.get(first["Location"])
    assert second.status_code == 302
    assert second["Location"] == reverse("account_login") + "?next=/admin/billing/payment/"
    assert client.get(second["Location"]).status_code == 200


def test_the_old_admin_login_form_logs_nobody_in(clerk):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": clerk.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session


def test_staff_log_in_through_allauth_with_their_code_and_land_on_next(clerk):
    secret = generate_totp_secret()
    TOTP.activate(clerk, secret)
    client = Client()
    response = client.post(
        reverse("account_login") + "?next=/admin/billing/payment/", {"login": clerk.email, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not signed in until the code is given
    done = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/billing/payment/"
    assert client.get("/admin/billing/payment/").status_code == 200


def test_staff_without_mfa_are_sent_to_set_it_up_before_the_admin_works(clerk):
    client = Client()
    logged_in = client.post(reverse("account_login") + "?next=/admin/", {"login": clerk.email, "password": PASSWORD})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/"
    for url in ("/admin/", "/admin/billing/ledgertransaction/adjust/", "/admin/login/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("mfa_activate_totp") + "?next="), url
    page = client.get("/admin/", follow=True)
    assert STAFF_MFA_MESSAGE in page.content.decode()
    # The admin's actions refuse too (a POST is redirected, nothing runs).
    assert client.post("/admin/billing/ledgertransaction/adjust/", {"reason": "x"}).status_code == 302
    TOTP.activate(clerk, generate_totp_secret())
    assert client.get("/admin/").status_code == 200


def test_non_staff_signed_in_get_a_403_not_a_login_loop(renter):
    client = login(renter)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert [url for url, _ in response.redirect_chain] == ["/admin/login/?next=/admin/"]  # then the 403


def test_the_admin_login_is_rate_limited_like_every_login(clerk):
    client = Client(REMOTE_ADDR="203.0.113.60")
    for _ in range(5):
        wrong = client.post(reverse("account_login"), {"login": clerk.email, "password": "not-the-password"})
        assert wrong.status_code == 200
    refused = client.post(reverse("account_login"), {"login": clerk.email, "password": PASSWORD})
    assert refused.status_code in (200, 429)
    assert "Too many failed login attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_rule_can_be_turned_off_only_by_its_setting(clerk, settings):
    client = login(clerk)
    assert client.get("/admin/").status_code == 302
    settings.MARKETPLACE_STAFF_MFA_REQUIRED = False
    assert client.get("/admin/").status_code == 200
