"""Cloud secrets are encrypted at rest and never shown back: pages, forms, admin, audit, logs."""

from __future__ import annotations

import logging

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.urls import reverse

from audit.models import DomainEvent
from owners import services
from owners.models import Cloud
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db
SECRET = "s3cr3t-Application-Credential-Value"


@pytest.fixture
def cloud(owner):
    return factories.cloud(
        owner,
        driver="openstack",
        auth_url="https://keystone.example.test:5000/v3",
        app_credential_id="abc123",
        app_credential_secret=SECRET,
    )


def test_secret_is_encrypted_in_the_database(cloud):
    with connection.cursor() as cur:
        cur.execute("SELECT app_credential_secret_encrypted FROM owners_cloud WHERE id = %s", [cloud.pk])
        stored = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM owners_cloud WHERE row_to_json(owners_cloud)::text LIKE %s", [f"%{SECRET}%"])
        assert cur.fetchone()[0] == 0
    assert SECRET not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert Cloud.objects.get(pk=cloud.pk).reveal_secret() == SECRET


def test_secret_never_rendered_in_owner_pages(owner, cloud):
    client = login(owner)
    for url in (
        reverse("owners:cloud_detail", args=[cloud.pk]),
        reverse("owners:cloud_edit", args=[cloud.pk]),
        reverse("owners:dashboard"),
    ):
        body = client.get(url).content.decode()
        assert SECRET not in body, url
        assert cloud.app_credential_secret_encrypted not in body, url
    assert (
        "stored (encrypted, never shown)"
        in client.get(reverse("owners:cloud_detail", args=[cloud.pk])).content.decode()
    )


def test_secret_never_rendered_in_admin(staff, cloud):
    client = login(staff)
    for url in (
        reverse("admin:owners_cloud_change", args=[cloud.pk]),
        reverse("admin:owners_cloud_changelist"),
        reverse("admin:owners_cloud_history", args=[cloud.pk]),
    ):
        body = client.get(url).content.decode()
        assert client.get(url).status_code == 200
        assert SECRET not in body and cloud.app_credential_secret_encrypted not in body, url


def test_secret_not_in_audit_records(owner, cloud):
    services.cloud_update(actor=owner, cloud=cloud, app_credential_secret="another-" + SECRET)
    for event in DomainEvent.objects.all():
        assert SECRET not in str(event.data)
    for entry in LogEntry.objects.all():
        assert SECRET not in str(entry.changes) and "gAAAA" not in str(entry.changes)
    updated = DomainEvent.objects.get(verb="cloud.updated")
    assert updated.data["changes"]["secret_replaced"] is True


def test_blank_secret_on_edit_keeps_the_stored_one(owner, cloud):
    client = login(owner)
    response = client.post(
        reverse("owners:cloud_edit", args=[cloud.pk]),
        {
            "name": "renamed",
            "driver": "openstack",
            "auth_url": cloud.auth_url,
            "region_name": "RegionOne",
            "project_id": "",
            "app_credential_id": "abc123",
            "app_credential_secret": "",
            "compute_endpoint_override": "",
            "image_endpoint_override": "",
        },
    )
    assert response.status_code == 302
    cloud.refresh_from_db()
    assert (cloud.name, cloud.reveal_secret()) == ("renamed", SECRET)


def test_secret_not_logged_by_connection_test(owner, cloud, caplog):
    with caplog.at_level(logging.DEBUG):
        services.cloud_test_connection(actor=owner, cloud=cloud)
    assert SECRET not in caplog.text


def test_connection_test_reports_a_clear_reason(owner, settings):
    # A local address needs the operator's development allowances (marketplace.lib.netguard).
    settings.CLOUD_URL_HTTP_HOSTS = ["127.0.0.1"]
    settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    unreachable = factories.cloud(
        owner, driver="openstack", auth_url="http://127.0.0.1:9/v3", app_credential_id="id", app_credential_secret="x"
    )
    result = services.cloud_test_connection(actor=owner, cloud=unreachable)
    assert not result.ok
    assert result.message == "Could not reach the cloud: the address refused or timed out. Check the auth URL."
    unreachable.refresh_from_db()
    assert unreachable.last_check_ok is False and unreachable.last_check_message == result.message
    assert DomainEvent.objects.filter(verb="cloud.connection_tested", target_id=str(unreachable.pk)).exists()


def test_connection_test_in_the_portal_updates_in_place(owner):
    sim = factories.cloud(owner, driver="simulator")
    client = login(owner)
    response = client.post(reverse("owners:cloud_test", args=[sim.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and f'id="cloud-status-{sim.pk}"' in body and "ok" in body
    assert "<html" not in body  # a fragment, swapped into the page by htmx


def test_openstack_cloud_requires_its_auth_details(owner):
    from marketplace.lib.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(owner, driver="openstack")
    assert exc.value.errors["auth_url"] == ["An OpenStack cloud needs its Keystone auth URL."]
    assert not Cloud.objects.exists()


def test_wrong_key_cannot_read_secret(cloud, settings):
    from cryptography.fernet import Fernet

    from marketplace.lib.crypto import SecretUnreadable

    settings.MARKETPLACE_SECRETS_KEY = Fernet.generate_key().decode()
    with pytest.raises(SecretUnreadable):
        Cloud.objects.get(pk=cloud.pk).reveal_secret()


def test_key_rotation_keeps_old_secrets_readable(cloud, settings):
    from cryptography.fernet import Fernet

    settings.MARKETPLACE_SECRETS_KEY = Fernet.generate_key().decode() + "," + settings.MARKETPLACE_SECRETS_KEY
    assert Cloud.objects.get(pk=cloud.pk).reveal_secret() == SECRET


# ---- the ciphertext is bound to its row --------------------------------------------------------


def _raw(cloud: Cloud) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT app_credential_secret_encrypted FROM owners_cloud WHERE id = %s", [cloud.pk])
        return str(cur.fetchone()[0])


def test_a_secret_copied_into_another_clouds_row_does_not_decrypt_there(owner, cloud, settings):
    """Someone with write access to the table (not the key) copies a cloud's ciphertext to another row:
    it does not decrypt there, and connecting through that cloud fails with a reason, not a crash."""
    from marketplace.lib.crypto import SecretUnreadable
    from provisioning.drivers import openstack

    settings.CLOUD_URL_ALLOWED_NETWORKS = ["0.0.0.0/0"]
    other = factories.cloud(
        owner,
        driver="openstack",
        auth_url="https://keystone.example.test:5000/v3",
        app_credential_id="other",
        app_credential_secret="the-other-clouds-own-secret",
    )
    Cloud.objects.filter(pk=other.pk).update(app_credential_secret_encrypted=_raw(cloud))
    other = Cloud.objects.get(pk=other.pk)
    with pytest.raises(SecretUnreadable, match="belongs somewhere else"):
        other.reveal_secret()
    with pytest.raises(openstack.CloudError, match="cannot be read .* enter the secret again"):
        openstack.connect(other)
    result = openstack.test_connection(other)
    assert not result.ok and "enter the secret again" in result.message
    # the owner's own cloud still reads its own secret
    assert Cloud.objects.get(pk=cloud.pk).reveal_secret() == SECRET


def test_the_connection_test_page_says_why_a_copied_secret_fails(client, owner, cloud):
    other = factories.cloud(
        owner,
        driver="openstack",
        auth_url="https://keystone.example.test:5000/v3",
        app_credential_id="other",
        app_credential_secret="the-other-clouds-own-secret",
    )
    Cloud.objects.filter(pk=other.pk).update(app_credential_secret_encrypted=_raw(cloud))
    result = services.cloud_test_connection(actor=owner, cloud=Cloud.objects.get(pk=other.pk))
    assert not result.ok and "enter the secret again" in result.message
    assert Cloud.objects.get(pk=other.pk).last_check_message == result.message


def test_a_new_clouds_secret_is_bound_to_its_row_and_never_stored_plain(owner, cloud):
    from marketplace.lib import crypto

    raw = _raw(cloud)
    assert SECRET not in raw
    assert crypto.decrypt(raw, context=f"owners.cloud:{cloud.pk}") == SECRET
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(raw, context=f"owners.cloud:{cloud.pk + 1}")
    # replacing it binds the new one to the same row
    services.cloud_update(actor=owner, cloud=cloud, app_credential_secret="replaced-secret")
    assert crypto.decrypt(_raw(cloud), context=f"owners.cloud:{cloud.pk}") == "replaced-secret"


def test_setting_a_secret_on_an_unsaved_cloud_is_refused(owner):
    with pytest.raises(ValueError, match="Save the cloud"):
        Cloud(owner=owner, name="unsaved").set_secret("x")


def test_the_migration_binds_secrets_stored_without_a_context(owner, cloud):
    """Secrets written before binding (no context) are rebound by owners/0006; a second run changes nothing."""
    import importlib

    from django.apps import apps

    from marketplace.lib import crypto

    migration = importlib.import_module("owners.migrations.0006_bind_cloud_secrets")
    legacy = factories.cloud(owner, name="legacy")
    Cloud.objects.filter(pk=legacy.pk).update(app_credential_secret_encrypted=crypto.encrypt("legacy-secret"))
    with pytest.raises(crypto.SecretUnreadable):
        Cloud.objects.get(pk=legacy.pk).reveal_secret()  # unbound: the bound reader refuses it
    bound_before = _raw(cloud)

    assert migration.bind_secrets(apps) == 1  # the legacy one only; the bound one is left as it is
    assert Cloud.objects.get(pk=legacy.pk).reveal_secret() == "legacy-secret"
    assert _raw(cloud) == bound_before and Cloud.objects.get(pk=cloud.pk).reveal_secret() == SECRET
    legacy_token = _raw(legacy)
    assert migration.bind_secrets(apps) == 0 and _raw(legacy) == legacy_token  # idempotent

    assert migration.unbind_secrets(apps) == 2  # the reverse: both back to context-free
    assert crypto.decrypt(_raw(legacy)) == "legacy-secret" and crypto.decrypt(_raw(cloud)) == SECRET
