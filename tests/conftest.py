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
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": str(tmp_path)}}
    cache.clear()
    yield


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
