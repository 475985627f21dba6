"""An endpoint's signing secret is encrypted bound to its row: a ciphertext copied into another
endpoint's column does not decrypt (or sign) there; the migration binds secrets stored before."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from marketplace.lib import crypto
from tests import factories
from tests.webhooks.helpers import buy, endpoint
from webhooks import delivery, services
from webhooks.models import DeliveryAttempt, Endpoint

pytestmark = pytest.mark.django_db


def _raw(ep: Endpoint) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT secret_encrypted FROM webhooks_endpoint WHERE id = %s", [ep.pk])
        return str(cur.fetchone()[0])


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def test_a_new_endpoint_secret_is_bound_to_its_row(renter, receiver, allow_local):
    ep, secret = endpoint(renter, receiver.url)
    raw = _raw(ep)
    assert secret not in raw and raw
    assert crypto.decrypt(raw, context=f"webhooks.endpoint:{ep.pk}") == secret
    with pytest.raises(crypto.SecretUnreadable, match="belongs somewhere else"):
        crypto.decrypt(raw, context=f"webhooks.endpoint:{ep.pk + 1}")
    _, rotated = services.endpoint_rotate_secret(actor=renter, endpoint=ep)
    assert crypto.decrypt(_raw(ep), context=f"webhooks.endpoint:{ep.pk}") == rotated


def test_a_secret_copied_to_another_endpoint_does_not_sign_there(renter, owner, offer, receiver, allow_local):
    victim, victim_secret = endpoint(owner, receiver.url)
    mine, _ = endpoint(renter, receiver.url)
    Endpoint.objects.filter(pk=mine.pk).update(secret_encrypted=_raw(victim))
    with pytest.raises(crypto.SecretUnreadable, match="belongs somewhere else"):
        services.endpoint_secret(Endpoint.objects.get(pk=mine.pk))
    buy(renter, offer)
    assert delivery.deliver_endpoint(mine.pk) == 0  # a failed attempt with a reason, not a crash
    attempt = DeliveryAttempt.objects.get(delivery__endpoint=mine)
    assert "does not belong to this endpoint" in attempt.error and "rotate it" in attempt.error
    assert receiver.requests == []  # nothing was sent signed with someone else's secret
    # the victim's own secret still reads on its own row
    assert services.endpoint_secret(Endpoint.objects.get(pk=victim.pk)) == victim_secret


def test_the_migration_binds_secrets_stored_without_a_context(renter, receiver, allow_local):
    migration = importlib.import_module("webhooks.migrations.0002_bind_endpoint_secrets")
    bound, bound_secret = endpoint(renter, receiver.url)
    legacy, _ = endpoint(renter, receiver.url)
    Endpoint.objects.filter(pk=legacy.pk).update(secret_encrypted=crypto.encrypt("whsec_legacy"))
    with pytest.raises(crypto.SecretUnreadable):
        services.endpoint_secret(Endpoint.objects.get(pk=legacy.pk))
    before = _raw(bound)

    assert migration.bind_secrets(apps) == 1
    assert services.endpoint_secret(Endpoint.objects.get(pk=legacy.pk)) == "whsec_legacy"
    assert _raw(bound) == before and services.endpoint_secret(Endpoint.objects.get(pk=bound.pk)) == bound_secret
    token = _raw(legacy)
    assert migration.bind_secrets(apps) == 0 and _raw(legacy) == token  # idempotent

    Endpoint.objects.filter(pk=legacy.pk).update(secret_encrypted="not-a-fernet-token")
    assert migration.bind_secrets(apps) == 0  # unreadable: left as it is, the migration does not fail
