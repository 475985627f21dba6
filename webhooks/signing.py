"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"``, standard library only.

Every delivery carries::

    Slicemarket-Signature: t=1764662400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
    Slicemarket-Event-Id: 0f8c1e2a-...   (the same on every attempt and redelivery: de-duplicate on it)

A receiver recomputes the HMAC with its endpoint's secret over the header's timestamp, a dot and the
raw request body (bytes as received, before any JSON parsing), compares in constant time, and refuses
a timestamp older than a few minutes (a replayed request). ``verify`` does exactly that; this module
imports nothing but the standard library so that the Python client can ship a copy of it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Slicemarket-Signature"
EVENT_ID_HEADER = "Slicemarket-Event-Id"
DEFAULT_TOLERANCE = 300  # seconds


class SignatureError(ValueError):
    """The signature is missing, malformed, wrong, or too old."""


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def compute(secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` keyed with ``secret``."""
    message = str(int(timestamp)).encode() + b"." + _as_bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> str:
    """The ``Slicemarket-Signature`` header value for ``body`` sent at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute(secret, t, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a ``Slicemarket-Signature`` header against the raw body; return its timestamp.

    Raises SignatureError when the header is missing or malformed, when no ``v1`` signature in it
    matches (several are allowed, e.g. while a secret is rotated), or when the timestamp is more
    than ``tolerance`` seconds away from ``now`` (replay protection; 0 turns the age check off).
    """
    if not header:
        raise SignatureError("No signature header.")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("The signature's timestamp is not a number.") from None
        elif key == "v1" and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise SignatureError("The signature header needs t=<unix time> and v1=<hex>.")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("The signature does not match the body.")
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        raise SignatureError("The signature's timestamp is too old (or in the future): a replayed request?")
    return timestamp
