"""Authentication events and object-permission grants are domain events, each with its actor, time
and the client's address, recorded through the real views (allauth's, the portal's)."""

from __future__ import annotations

import re
import time as _time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import remove_perm

from accounts.models import ApiToken, User
from accounts.signals import login_attempt_hash
from audit.models import DomainEvent
from owners.models import Cloud
from tests import factories
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

IP = "198.51.100.23"


def _client() -> Client:
    return Client(REMOTE_ADDR=IP)


def _login(client: Client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _event(verb: str) -> DomainEvent:
    return DomainEvent.objects.get(verb=verb)


def _link(message) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"http://testserver(/\S+)", message.body).group(1)


def _assert_by(event: DomainEvent, user: User) -> None:
    assert (event.actor, event.actor_label, event.ip, event.source) == (user, user.email, IP, "web")
    assert event.target_id == str(user.pk) and event.created_at is not None
    assert event.request_id


def test_login_and_logout_are_recorded(renter):
    client = _client()
    assert _login(client, renter.email).status_code == 302
    _assert_by(_event("auth.login"), renter)
    assert client.post(reverse("account_logout")).status_code == 302
    _assert_by(_event("auth.logout"), renter)


def test_a_login_failure_is_recorded_without_the_typed_address_or_whether_it_exists(renter):
    known = _login(_client(), renter.email, "wrong-password")
    unknown = _login(_client(), "no-such-user@example.test", "wrong-password")
    assert known.status_code == unknown.status_code == 200
    refusal = "The email address and/or password you specified are not correct."
    assert refusal in known.content.decode() and refusal in unknown.content.decode()
    on_account, on_nobody = DomainEvent.objects.filter(verb="auth.login_failed").order_by("id")
    for event, email in ((on_account, renter.email), (on_nobody, "no-such-user@example.test")):
        assert (event.actor, event.ip) == (None, IP)
        assert event.data == {"email_hash": login_attempt_hash(email)}
        assert email not in str(event.data)
    # The account's owner sees the attempt on their account (its target); nobody's attempt has none.
    assert on_account.target_id == str(renter.pk) and on_nobody.target_id == ""


def test_password_change_is_recorded(renter):
    client = _client()
    _login(client, renter.email)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "another-long-pass-77", "password2": "another-long-pass-77"},
    )
    assert response.status_code == 302
    _assert_by(_event("auth.password_changed"), renter)


def test_password_reset_is_recorded(renter):
    client = _client()
    client.post(reverse("account_reset_password"), {"email": renter.email})
    page = client.get(_link(mail.outbox[0]), follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else _link(mail.outbox[0])
    response = client.post(form_url, {"password1": "brand-new-pass-9876", "password2": "brand-new-pass-9876"})
    assert response.status_code == 302
    event = _event("auth.password_reset")
    assert (event.actor, event.ip, event.target_id) == (renter, IP, str(renter.pk))


def test_email_added_confirmed_made_primary_and_removed_are_recorded(renter):
    client = _client()
    _login(client, renter.email)
    old = renter.email
    assert client.post(reverse("account_email"), {"action_add": "", "email": "second@example.test"}).status_code == 302
    _assert_by(_event("auth.email_added"), renter)
    assert _event("auth.email_added").data == {"email": "second@example.test"}
    client.post(_link(mail.outbox[-1]))
    assert _event("auth.email_confirmed").data == {"email": "second@example.test"}
    assert client.post(
        reverse("account_email"), {"action_primary": "", "email": "second@example.test"}
    ).status_code in (
        200,
        302,
    )
    changed = _event("auth.email_changed")
    assert (changed.actor, changed.ip, changed.data) == (renter, IP, {"from": old, "to": "second@example.test"})
    client.post(reverse("account_email"), {"action_remove": "", "email": old})
    assert not EmailAddress.objects.filter(email=old).exists()
    assert _event("auth.email_removed").data == {"email": old}


def _reauthenticated_get(client: Client, url: str):  # type: ignore[no-untyped-def]
    page = client.get(url)
    if page.status_code == 302 and "reauthenticate" in page["Location"]:
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get(url)
    return page


def test_mfa_on_and_off_and_a_wrong_code_are_recorded(renter, django_capture_on_commit_callbacks):
    client = _client()
    _login(client, renter.email)
    assert _reauthenticated_get(client, reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]
    code = format_hotp_value(hotp_value(secret, int(_time.time()) // 30))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("mfa_activate_totp"), {"code": code}).status_code == 302
    added = DomainEvent.objects.filter(verb="auth.mfa_added").order_by("id")
    assert "totp" in [e.data["type"] for e in added]
    _assert_by(added[0], renter)

    other = _client()
    _login(other, renter.email)
    other.post(reverse("mfa_authenticate"), {"code": "000000"})
    failed = _event("auth.mfa_failed")
    assert (failed.actor, failed.ip, failed.target_id) == (None, IP, str(renter.pk))

    assert _reauthenticated_get(client, reverse("mfa_deactivate_totp")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("mfa_deactivate_totp")).status_code == 302
    assert not Authenticator.objects.filter(user=renter, type="totp").exists()
    removed = DomainEvent.objects.filter(verb="auth.mfa_removed")
    assert "totp" in [e.data["type"] for e in removed]
    _assert_by(removed.first(), renter)


def test_api_tokens_created_and_revoked_are_recorded_with_the_address(renter):
    client = _client()
    _login(client, renter.email)
    client.post(reverse("accounts:api_tokens"), {"name": "laptop", "scopes": ["read"], "expires_in_days": "30"})
    token = ApiToken.objects.get(user=renter)
    client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    for verb in ("api_token.created", "api_token.revoked"):
        event = _event(verb)
        assert (event.actor, event.ip, event.target_id) == (renter, IP, str(token.pk))


def test_object_permission_grants_and_revocations_are_recorded(owner):
    client = _client()
    client.force_login(owner)
    response = client.post(
        reverse("owners:cloud_create"),
        {
            "name": "granted",
            "driver": "openstack",
            "auth_url": "https://keystone.example.test:5000/v3",
            "region_name": "RegionOne",
            "project_id": "",
            "app_credential_id": "abc123",
            "app_credential_secret": "s3cret-value",
            "compute_endpoint_override": "",
            "image_endpoint_override": "",
        },
    )
    assert response.status_code == 302
    cloud = Cloud.objects.get(name="granted")
    grants = DomainEvent.objects.filter(verb="permission.granted", target_id=str(cloud.pk))
    assert sorted(e.data["permission"] for e in grants) == [
        "owners.change_cloud",
        "owners.delete_cloud",
        "owners.view_cloud",
    ]
    for event in grants:
        assert (event.actor, event.ip, event.data["user_id"]) == (owner, IP, owner.pk)
    remove_perm("owners.change_cloud", owner, cloud)
    revoked = _event("permission.revoked")
    assert (revoked.target_id, revoked.data["permission"], revoked.actor) == (
        str(cloud.pk),
        "owners.change_cloud",
        None,
    )


def test_forced_logins_of_tests_and_scripts_are_not_authentication_events(renter):
    Client().force_login(renter)
    assert not DomainEvent.objects.filter(verb__startswith="auth.").exists()


def test_staff_can_find_failed_attempts_on_an_address():
    factories.renter(email="target@example.test")
    _login(_client(), "Target@example.test", "wrong-password")
    assert DomainEvent.objects.filter(
        verb="auth.login_failed", data__email_hash=login_attempt_hash("target@example.test")
    ).exists()
