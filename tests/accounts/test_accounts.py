"""Accounts through django-allauth: sign-up with a role, email verification, login, password reset,
TOTP two-factor authentication, login rate limits; personal API tokens."""

from __future__ import annotations

import re
import time as _time

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, User, hash_token
from tests import factories
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _link(message) -> str:
    return re.search(r"http://testserver(/\S+)", message.body).group(1)


def _login(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_signup_as_owner_requires_email_verification_then_logs_in():
    client = Client()
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new.owner@example.test",
            "password1": "a-long-unusual-pass-42",
            "password2": "a-long-unusual-pass-42",
            "role": "both",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.owner@example.test")
    assert (user.is_owner, user.is_renter) == (True, True)
    # Not logged in until the address is confirmed.
    assert client.get(reverse("owners:dashboard")).status_code == 302
    assert len(mail.outbox) == 1 and "new.owner@example.test" in mail.outbox[0].to
    confirm_url = _link(mail.outbox[0])
    assert client.post(confirm_url).status_code == 302
    assert client.get(reverse("owners:dashboard")).status_code == 200


def test_renter_signup_cannot_use_the_owner_portal():
    client = Client()
    client.post(
        reverse("account_signup"),
        {
            "email": "r@example.test",
            "password1": "a-long-unusual-pass-42",
            "password2": "a-long-unusual-pass-42",
            "role": "renter",
        },
    )
    client.post(_link(mail.outbox[0]))
    assert client.get(reverse("owners:dashboard")).status_code == 403


def test_unverified_user_cannot_log_in():
    user = User.objects.create_user("unverified@example.test", PASSWORD)
    client = Client()
    _login(client, user.email)
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1  # a fresh verification mail instead


def test_password_reset_by_email(renter):
    client = Client()
    client.post(reverse("account_reset_password"), {"email": renter.email})
    assert len(mail.outbox) == 1
    reset_url = _link(mail.outbox[0])
    page = client.get(reset_url, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else reset_url
    response = client.post(form_url, {"password1": "brand-new-pass-9876", "password2": "brand-new-pass-9876"})
    assert response.status_code == 302
    assert (
        Client().post(reverse("account_login"), {"login": renter.email, "password": "brand-new-pass-9876"}).status_code
        == 302
    )
    renter.refresh_from_db()
    assert renter.check_password("brand-new-pass-9876")


def test_totp_two_factor_activation_and_login(renter):
    client = Client()
    assert _login(client, renter.email).status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code == 302 and "reauthenticate" in page["Location"]:  # allauth asks for the password again
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]
    now = _time.time()
    code = format_hotp_value(hotp_value(secret, int(now) // 30))
    response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=renter, type="totp").exists()

    # A new login now stops at the second factor until a valid code is given.
    with time_machine.travel(now + 60, tick=False):
        other = Client()
        step = _login(other, renter.email)
        assert step.status_code == 302 and "/2fa/" in step["Location"]
        assert "_auth_user_id" not in other.session
        assert other.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200
        assert "_auth_user_id" not in other.session
        good = format_hotp_value(hotp_value(secret, int(now + 60) // 30))
        assert other.post(reverse("mfa_authenticate"), {"code": good}).status_code == 302
        assert other.session["_auth_user_id"] == str(renter.pk)


def test_failed_logins_are_rate_limited(renter):
    client = Client()
    for _ in range(5):
        response = _login(client, renter.email, "wrong-password")
        assert response.status_code == 200
    # The sixth attempt is refused even with the right password.
    response = _login(client, renter.email)
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    assert b"Too many failed login attempts" in response.content or response.status_code == 429


def test_api_token_is_stored_hashed_and_authenticates(renter):
    client = Client()
    assert _login(client, renter.email).status_code == 302  # a fresh login: no second password prompt
    page = client.post(
        reverse("accounts:api_tokens"),
        {"name": "laptop", "scopes": ["read", "market", "billing", "owner"], "expires_in_days": "90"},
    )
    raw = re.search(r'id="new-token">([^<]+)<', page.content.decode()).group(1)
    token = ApiToken.objects.get(user=renter)
    assert token.key_hash == hash_token(raw) and raw not in str(ApiToken.objects.values())
    # The plaintext is shown once: the list page does not show it again.
    assert raw not in client.get(reverse("accounts:api_tokens")).content.decode()

    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    me = api.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["email"] == renter.email

    client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    refused = api.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid or revoked API token."


def test_api_token_of_a_deactivated_user_is_refused_and_use_is_recorded(renter):
    from accounts.services import api_token_create

    _, raw = api_token_create(actor=renter, name="ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/me").json()["email"] == renter.email
    assert ApiToken.objects.get(user=renter).last_used_at is not None
    User.objects.filter(pk=renter.pk).update(is_active=False)
    refused = api.get("/api/v1/me")
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid or revoked API token."
    assert Client(HTTP_AUTHORIZATION="Bearer tsm_not-a-token").get("/api/v1/me").status_code == 401


def test_api_without_credentials_is_401_json():
    response = Client().get("/api/v1/me")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_cannot_revoke_someone_elses_token(renter):
    other = factories.renter()
    from accounts.services import api_token_create

    token, raw = api_token_create(actor=other, name="theirs")
    client = Client()
    client.force_login(renter)
    client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is None


def test_create_api_token_command_prints_a_working_token(renter, capsys):
    call_command("create_api_token", renter.email)
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("tsm_")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").json()["email"] == renter.email
