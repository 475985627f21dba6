"""Sign-up is atomic: the user row, its role, its email address and its audit entry commit together,
or none of them does (allauth saved the user in autocommit, so a failure after it left an account
with no audit entry)."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import DomainEvent

pytestmark = pytest.mark.django_db

EMAIL = "atomic@example.test"


def _signup(client: Client):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("account_signup"),
        {"email": EMAIL, "password1": "a-long-unusual-pass-42", "password2": "a-long-unusual-pass-42", "role": "both"},
        REMOTE_ADDR="203.0.113.40",
    )


def test_sign_up_commits_the_user_with_its_audit_entry():
    assert _signup(Client()).status_code == 302
    user = User.objects.get(email=EMAIL)
    event = DomainEvent.objects.get(verb="user.signed_up")
    assert (event.actor, event.target_id, event.ip, event.data) == (
        user,
        str(user.pk),
        "203.0.113.40",
        {"role": "both"},
    )


def test_a_failure_after_the_user_is_saved_leaves_no_user(monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("mail server exploded while the address was set up")

    monkeypatch.setattr("allauth.account.forms.setup_user_email", broken)
    response = _signup(Client(raise_request_exception=False))
    assert response.status_code == 500
    assert not User.objects.filter(email=EMAIL).exists()
    assert not EmailAddress.objects.filter(email=EMAIL).exists()
    assert not DomainEvent.objects.filter(verb="user.signed_up").exists()


def test_a_failed_audit_entry_leaves_no_user(monkeypatch):
    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr("accounts.services.record_event", broken)
    response = _signup(Client(raise_request_exception=False))
    assert response.status_code == 500
    assert not User.objects.filter(email=EMAIL).exists()
