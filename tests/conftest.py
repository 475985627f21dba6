from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

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
    elif marker or "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    from owners.predefined import ensure_predefined_profiles

    ensure_predefined_profiles()


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
    return factories.UserFactory(is_staff=True, is_superuser=True, is_owner=True)


def login(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):  # type: ignore[no-untyped-def]
    return login(owner)
