"""TOTP secrets and recovery-code seeds of django-allauth's MFA, sealed at rest.

allauth's default MFA adapter stores them as given (its ``encrypt`` hook returns the text), so anyone
who reads the ``mfa_authenticator`` table could mint second factors. accounts.mfa.MFAAdapter seals
them here with marketplace.lib.crypto under MARKETPLACE_SECRETS_KEY, bound to the ``allauth.mfa``
context (a ciphertext copied from another column does not decrypt here), behind a marker so a stored
value says what it is. ``accounts/migrations/0007`` sealed the values written before the adapter;
``manage.py reencrypt_secrets`` rotates these with the other secrets.
"""

from __future__ import annotations

from collections.abc import Callable

from marketplace.lib import crypto

MARKER = "fernet:"
CONTEXT = "allauth.mfa"


def seal(text: str) -> str:
    return text if text.startswith(MARKER) else MARKER + crypto.encrypt(text, context=CONTEXT)


def unseal(stored: str) -> str:
    if not stored.startswith(MARKER):
        raise crypto.SecretUnreadable("an MFA secret is stored without encryption (run the migrations)")
    return crypto.decrypt(stored[len(MARKER) :], context=CONTEXT)


def rotate(stored: str) -> str:
    """The same sealed secret under the newest key (reencrypt_secrets)."""
    return MARKER + crypto.rotate(stored[len(MARKER) :])


def is_current(stored: str) -> bool:
    return crypto.is_current(stored[len(MARKER) :])


def map_secrets(kind: str, data: dict[str, object], change: Callable[[str], str]) -> dict[str, object]:
    """A copy of an authenticator's ``data`` with ``change`` applied to each secret in it: a TOTP
    authenticator's ``secret``; a recovery-codes one's ``seed`` and any ``migrated_codes``."""
    keys = {"totp": ("secret",), "recovery_codes": ("seed",)}.get(kind, ())
    out: dict[str, object] = {**data}
    for key in keys:
        if isinstance(data.get(key), str):
            out[key] = change(str(data[key]))
    codes = data.get("migrated_codes") if kind == "recovery_codes" else None
    if isinstance(codes, list):
        out["migrated_codes"] = [change(str(code)) for code in codes]
    return out
