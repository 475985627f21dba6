"""TOTP secrets and recovery-code seeds are encrypted at rest (accounts.mfa.MFAAdapter,
marketplace.lib.mfa_secrets): the database never holds the secret a renter's authenticator app
holds, a second factor still works, rows written before the adapter are sealed by the migration, and
``reencrypt_secrets`` rotates them with the other secrets."""

from __future__ import annotations

import time as _time
from importlib import import_module
from io import StringIO

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from marketplace.lib import crypto, mfa_secrets
from tests.accounts.test_accounts import _login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

seal_migration = import_module("accounts.migrations.0007_seal_mfa_secrets")


def _stored(user, kind: str) -> dict:  # type: ignore[no-untyped-def]
    """The authenticator's data as the table holds it (no model code in between)."""
    row = Authenticator.objects.get(user=user, type=kind)
    with connection.cursor() as cur:
        cur.execute("SELECT data::text FROM mfa_authenticator WHERE id = %s", [row.pk])
        text = cur.fetchone()[0]
    return {"text": text, "data": row.data}


def test_activating_totp_stores_only_ciphertext_and_the_code_still_logs_in(renter):
    client = Client()
    assert _login(client, renter.email).status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code == 302 and "reauthenticate" in page["Location"]:
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
    secret = client.session["mfa.totp.secret"]
    now = _time.time()
    assert (
        client.post(
            reverse("mfa_activate_totp"), {"code": format_hotp_value(hotp_value(secret, int(now) // 30))}
        ).status_code
        == 302
    )

    stored = _stored(renter, "totp")
    assert secret not in stored["text"]
    assert stored["data"]["secret"].startswith(mfa_secrets.MARKER)
    assert mfa_secrets.unseal(stored["data"]["secret"]) == secret
    # allauth also made recovery codes on activation: their seed is sealed too.
    seed = _stored(renter, "recovery_codes")["data"]["seed"]
    assert seed.startswith(mfa_secrets.MARKER)
    assert mfa_secrets.unseal(seed) not in _stored(renter, "recovery_codes")["text"]

    with time_machine.travel(now + 60, tick=False):  # a fresh code: allauth refuses one used twice
        other = Client()
        assert "/2fa/" in _login(other, renter.email)["Location"]
        code = format_hotp_value(hotp_value(secret, int(now + 60) // 30))
        assert other.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
        assert other.session["_auth_user_id"] == str(renter.pk)


def test_a_sealed_secret_copied_from_another_column_does_not_open(renter):
    foreign = mfa_secrets.MARKER + crypto.encrypt("JBSWY3DPEHPK3PXP", context="owners.cloud:1")
    with pytest.raises(crypto.SecretUnreadable):
        mfa_secrets.unseal(foreign)
    with pytest.raises(crypto.SecretUnreadable):
        mfa_secrets.unseal("JBSWY3DPEHPK3PXP")  # plain text is not taken as a secret


def test_the_migration_seals_plain_secrets_once_and_keeps_them_working(renter):
    plain_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    Authenticator.objects.create(user=renter, type="totp", data={"secret": plain_secret})
    Authenticator.objects.create(
        user=renter,
        type="recovery_codes",
        data={"seed": "ab" * 40, "used_mask": 0, "migrated_codes": ["11112222", "33334444"]},
    )
    assert seal_migration.seal_secrets(apps) == 2
    assert seal_migration.seal_secrets(apps) == 0  # already sealed: nothing changes the second time
    totp = _stored(renter, "totp")
    assert plain_secret not in totp["text"]
    assert TOTP(Authenticator.objects.get(user=renter, type="totp")).validate_code(
        format_hotp_value(hotp_value(plain_secret, int(_time.time()) // 30))
    )
    codes = _stored(renter, "recovery_codes")
    assert "11112222" not in codes["text"] and "ab" * 40 not in codes["text"]
    assert codes["data"]["used_mask"] == 0
    assert RecoveryCodes(Authenticator.objects.get(user=renter, type="recovery_codes")).get_unused_codes() == [
        "11112222",
        "33334444",
    ]
    assert seal_migration.unseal_secrets(apps) == 2
    assert Authenticator.objects.get(user=renter, type="totp").data["secret"] == plain_secret


def test_reencrypt_secrets_rotates_mfa_secrets_to_the_new_key(renter, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MARKETPLACE_SECRETS_KEY = old
    Authenticator.objects.create(user=renter, type="totp", data={"secret": mfa_secrets.seal("JBSWY3DPEHPK3PXP")})
    settings.MARKETPLACE_SECRETS_KEY = f"{new},{old}"
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "mfa.Authenticator.data: 1 re-encrypted" in out.getvalue()
    settings.MARKETPLACE_SECRETS_KEY = new
    assert mfa_secrets.unseal(Authenticator.objects.get(user=renter).data["secret"]) == "JBSWY3DPEHPK3PXP"
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "mfa.Authenticator.data: 0 re-encrypted, 1 already under the new key" in out.getvalue()
