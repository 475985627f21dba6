from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django import DjangoDbBlocker

from tests import factories


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test: fast password hashing, in-memory email, a clean cache (allauth's rate limits live there)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _predefined_profiles(request):  # type: ignore[no-untyped-def]
    """Transactional tests flush the database, data migrations included: put the predefined profiles back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))) or any(
        f in request.fixturenames for f in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        _post_migrate_rows_back()
    elif marker or "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    from owners.predefined import ensure_predefined_profiles

    ensure_predefined_profiles()


# Transactional tests flush the database when they end, and the two kinds leave it differently:
# a plain one re-runs post_migrate (content types, permissions, guardian's anonymous user, all
# with new ids); a serialized_rollback one skips post_migrate because Django expects the next
# test to restore the snapshot taken after migrate. tests/concurrency is serialized and
# tests/billing is not, so in one run each kind met the other's leftovers: the snapshot was
# restored on top of post_migrate's rows (duplicate content type), or a plain test found no
# content types while the per-process ContentType cache still held ids that were gone (the
# audit log's foreign key failed). The hook and the helper below give each kind what it expects.

_DB_BLOCKER = pytest.StashKey[DjangoDbBlocker]()


@pytest.fixture(autouse=True, scope="session")
def _db_blocker_for_hooks(request: pytest.FixtureRequest, django_db_blocker: DjangoDbBlocker) -> None:
    """pytest_runtest_setup below reaches the database through this, as fixtures do."""
    request.config.stash[_DB_BLOCKER] = django_db_blocker


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a serialized_rollback test is set up: empty a database a plain transactional test left.

    Runs before pytest-django restores the snapshot, which a fixture cannot (its marker fixture
    comes first); the snapshot is meant to be restored into an empty database.
    """
    from django.db import connection

    marker = item.get_closest_marker("django_db")
    serialized = bool(marker and marker.kwargs.get("serialized_rollback")) or (
        "django_db_serialized_rollback" in getattr(item, "fixturenames", ())
    )
    blocker = item.config.stash.get(_DB_BLOCKER, None)
    if not serialized or blocker is None or not hasattr(connection, "_test_serialized_contents"):
        return  # no snapshot yet: the database is as migrate left it
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    with blocker.unblock():
        if ContentType.objects.exists():
            call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True)


def _post_migrate_rows_back() -> None:
    """After a transactional test's setup: post_migrate's rows if a serialized test's flush skipped them."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.sql import emit_post_migrate_signal
    from django.db import DEFAULT_DB_ALIAS

    ContentType.objects.clear_cache()  # ids change with every post_migrate and snapshot restore
    if not ContentType.objects.exists():
        emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)


@pytest.fixture
def owner(db):  # type: ignore[no-untyped-def]
    return factories.owner()


@pytest.fixture
def other_owner(db):  # type: ignore[no-untyped-def]
    return factories.owner()


@pytest.fixture
def renter(db):  # type: ignore[no-untyped-def]
    return factories.renter()


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    """A superuser with TOTP on: staff reach the admin only with a second factor (issue 14 item 4)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = factories.UserFactory(is_staff=True, is_superuser=True, is_owner=True)
    TOTP.activate(user, generate_totp_secret())
    return user


def login(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):  # type: ignore[no-untyped-def]
    return login(owner)
