"""Secrets at rest: Fernet with keys from the environment.

MARKETPLACE_SECRETS_KEY holds one key, or several separated by commas (the
first encrypts, all decrypt) so keys can be rotated. Ciphertext is what the
database stores; plaintext is produced only on explicit request.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    pass


@lru_cache(maxsize=4)
def _box(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "MARKETPLACE_SECRETS_KEY must be urlsafe-base64 32-byte Fernet keys, comma-separated"
        ) from exc


def encrypt(plaintext: str) -> str:
    return _box(settings.MARKETPLACE_SECRETS_KEY).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _box(settings.MARKETPLACE_SECRETS_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the stored secret cannot be decrypted with the configured keys") from exc
