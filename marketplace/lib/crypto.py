"""Secrets at rest: Fernet with keys from the environment.

MARKETPLACE_SECRETS_KEY holds one key, or several separated by commas (the
first encrypts, all decrypt) so keys can be rotated. Ciphertext is what the
database stores; plaintext is produced only on explicit request.

``context`` binds a ciphertext to where it belongs (Fernet has no associated data, so the context
is sealed inside the token and checked on decryption): a ciphertext copied to another row, whose
context differs, does not decrypt there. Secrets stored without one decrypt without one.

Every model field holding such a ciphertext is named ``*_encrypted``: ``manage.py reencrypt_secrets``
finds them by that name and re-encrypts them under the first key after a rotation (``rotate`` below;
the context travels inside the token, so it needs none).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

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


_BOUND = "\x1fbound:"  # starts a context-bound payload; a unit separator never starts a stored secret


def encrypt(plaintext: str, *, context: str = "") -> str:
    payload = f"{_BOUND}{context}\x1f{plaintext}" if context else plaintext
    return _box(settings.MARKETPLACE_SECRETS_KEY).encrypt(payload.encode()).decode()


def decrypt(ciphertext: str, *, context: str = "") -> str:
    try:
        payload = _box(settings.MARKETPLACE_SECRETS_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the stored secret cannot be decrypted with the configured keys") from exc
    if not context:
        return payload
    prefix = f"{_BOUND}{context}\x1f"
    if not payload.startswith(prefix):
        raise SecretUnreadable("the stored secret belongs somewhere else (its context does not match)")
    return payload[len(prefix) :]


@lru_cache(maxsize=4)
def _newest(keys: str) -> Fernet:
    _box(keys)  # the same refusal of a malformed key
    return Fernet(next(key.strip() for key in keys.split(",") if key.strip()).encode())


def is_current(ciphertext: str) -> bool:
    """Whether the first (newest) key of MARKETPLACE_SECRETS_KEY alone decrypts this ciphertext."""
    try:
        _newest(settings.MARKETPLACE_SECRETS_KEY).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """The same secret (its context included) encrypted under the first key; any configured key may
    have encrypted it. SecretUnreadable when none can decrypt it."""
    try:
        return _box(settings.MARKETPLACE_SECRETS_KEY).rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the stored secret cannot be decrypted with the configured keys") from exc


def bind(ciphertext: str, *, context: str) -> str:
    """A secret stored without a context, re-encrypted bound to ``context`` (for data migrations).

    One already bound (to any context) comes back unchanged, so running it twice changes nothing;
    SecretUnreadable when no configured key decrypts it.
    """
    payload = decrypt(ciphertext)
    if payload.startswith(_BOUND):
        return ciphertext
    return encrypt(payload, context=context)


def rebind_column(model: Any, field: str, context: Callable[[int], str], change: Callable[..., str]) -> int:
    """Apply ``bind`` or ``unbind`` to every stored secret of one column (the data migrations that
    bind secrets to their rows). Each row is updated only if it still holds what was read; a value no
    configured key reads is left as it is. Returns how many rows changed."""
    changed = 0
    for pk, token in model.objects.exclude(**{field: ""}).values_list("pk", field).iterator():
        try:
            new = change(token, context=context(pk))
        except SecretUnreadable:
            continue
        if new != token:
            model.objects.filter(pk=pk, **{field: token}).update(**{field: new})
            changed += 1
    return changed


def unbind(ciphertext: str, *, context: str) -> str:
    """The reverse of ``bind``: a secret bound to ``context`` stored without one (unbound ones unchanged)."""
    if not decrypt(ciphertext).startswith(_BOUND):
        return ciphertext
    return encrypt(decrypt(ciphertext, context=context))
