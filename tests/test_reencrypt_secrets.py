"""Rotating the key for secrets at rest (MARKETPLACE_SECRETS_KEY): with the new key first and the old one
second, `manage.py reencrypt_secrets` re-encrypts every stored secret (clouds' credentials, webhook
endpoints' secrets, bookings' user-data) under the new key; afterwards the new key alone reads them all,
each still bound to its row's context, and the old key alone reads none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from marketplace.lib import crypto
from owners.models import Cloud
from scheduling.models import Booking
from tests import factories
from tests.provisioning.helpers import fund
from webhooks import services as webhooks

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
USER_DATA = "#cloud-config\nwrite_files:\n- path: /etc/motd\n  content: rotate-me\n"


@pytest.fixture
def stored(settings):  # type: ignore[no-untyped-def]
    """Secrets of every kind, written under the old key through the app's own doors."""
    settings.MARKETPLACE_SECRETS_KEY = OLD
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    owner = factories.owner()
    clouds = [factories.cloud(owner) for _ in range(3)]
    for i, cloud in enumerate(clouds):
        cloud.set_secret(f"app-credential-secret-{i}")
        cloud.save(update_fields=["app_credential_secret_encrypted"])
    keyless = factories.cloud(owner)  # no secret: nothing to re-encrypt
    endpoint, hook_secret = webhooks.endpoint_create(
        actor=owner, url="https://127.0.0.1:9/hook", event_types=["booking.confirmed"]
    )
    renter = factories.renter(ssh_key=False)
    fund(renter, 100_000)
    offer = factories.offering(owner, publish=True)
    with time_machine.travel(NOW, tick=True):
        client = APIClient(REMOTE_ADDR="203.0.113.9")
        client.force_authenticate(renter)
        start = NOW + timedelta(hours=1)
        r = client.post(
            f"/api/v1/timeslots/{factories.slice_id(offer, start, 600)}/request",
            {"user_data": USER_DATA},
            format="json",
        )
        assert r.status_code == 201, r.content
    return {
        "clouds": clouds,
        "keyless": keyless,
        "endpoint": endpoint,
        "hook_secret": hook_secret,
        "booking": Booking.objects.get(pk=r.json()["id"]),
    }


def _run(**options: object) -> str:
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out, **options)
    return out.getvalue()


def _everything_reads(stored) -> None:  # type: ignore[no-untyped-def]
    for i, cloud in enumerate(stored["clouds"]):
        assert Cloud.objects.get(pk=cloud.pk).reveal_secret() == f"app-credential-secret-{i}"
    endpoint = type(stored["endpoint"]).objects.get(pk=stored["endpoint"].pk)
    assert webhooks.endpoint_secret(endpoint) == stored["hook_secret"]
    assert Booking.objects.get(pk=stored["booking"].pk).reveal_user_data() == USER_DATA


def test_after_rotation_the_new_key_alone_reads_every_secret(settings, stored):
    before = {c.pk: c.app_credential_secret_encrypted for c in stored["clouds"]}
    settings.MARKETPLACE_SECRETS_KEY = f"{NEW},{OLD}"
    out = _run(batch_size=2)  # several batches of clouds
    assert (
        "owners.Cloud.app_credential_secret_encrypted: 3 re-encrypted, 0 already under the new key, 0 unreadable" in out
    )
    assert "webhooks.Endpoint.secret_encrypted: 1 re-encrypted" in out
    assert "scheduling.Booking.user_data_encrypted: 1 re-encrypted" in out
    assert "Total: 5 re-encrypted, 0 already under the new key, 0 unreadable." in out
    after = {c.pk: c.app_credential_secret_encrypted for c in Cloud.objects.filter(pk__in=before)}
    assert all(after[pk] != before[pk] for pk in before)
    assert Cloud.objects.get(pk=stored["keyless"].pk).app_credential_secret_encrypted == ""

    settings.MARKETPLACE_SECRETS_KEY = NEW
    _everything_reads(stored)
    # The user-data is still bound to its renter: it does not decrypt under another row's context.
    booking = Booking.objects.get(pk=stored["booking"].pk)
    with pytest.raises(crypto.SecretUnreadable, match="belongs somewhere else"):
        crypto.decrypt(booking.user_data_encrypted, context="scheduling.booking.user_data:renter=0")

    settings.MARKETPLACE_SECRETS_KEY = OLD  # the old key alone reads nothing any more
    with pytest.raises(crypto.SecretUnreadable):
        Cloud.objects.get(pk=stored["clouds"][0].pk).reveal_secret()


def test_a_second_run_changes_nothing(settings, stored):
    settings.MARKETPLACE_SECRETS_KEY = f"{NEW},{OLD}"
    _run()
    tokens = list(Cloud.objects.order_by("pk").values_list("app_credential_secret_encrypted", flat=True))
    out = _run()
    assert "Total: 0 re-encrypted, 5 already under the new key, 0 unreadable." in out
    assert list(Cloud.objects.order_by("pk").values_list("app_credential_secret_encrypted", flat=True)) == tokens


def test_a_dry_run_counts_and_writes_nothing(settings, stored):
    tokens = list(Cloud.objects.order_by("pk").values_list("app_credential_secret_encrypted", flat=True))
    settings.MARKETPLACE_SECRETS_KEY = f"{NEW},{OLD}"
    out = _run(dry_run=True)
    assert "Total: 5 would be re-encrypted, 0 already under the new key, 0 unreadable." in out
    assert list(Cloud.objects.order_by("pk").values_list("app_credential_secret_encrypted", flat=True)) == tokens


def test_a_secret_no_key_reads_is_reported_and_the_rest_is_still_rotated(settings, stored):
    stray = stored["clouds"][1]
    Cloud.objects.filter(pk=stray.pk).update(
        app_credential_secret_encrypted=Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    )
    settings.MARKETPLACE_SECRETS_KEY = f"{NEW},{OLD}"
    out = StringIO()
    with pytest.raises(CommandError, match="1 secrets cannot be decrypted with any key"):
        call_command("reencrypt_secrets", stdout=out)
    assert (
        "owners.Cloud.app_credential_secret_encrypted: 2 re-encrypted, 0 already under the new key, 1 unreadable"
        in out.getvalue()
    )
    settings.MARKETPLACE_SECRETS_KEY = NEW
    assert Cloud.objects.get(pk=stored["clouds"][0].pk).reveal_secret() == "app-credential-secret-0"
