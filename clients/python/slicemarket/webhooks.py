"""Checking a webhook's signature: header ``t=<unix seconds>,v1=<hex>``, where ``v1`` is
HMAC-SHA256(secret, f"{t}.{body}"). Standalone: the standard library only."""

from __future__ import annotations

import hashlib
import hmac
import time


class SignatureError(ValueError):
    """The signature header is missing, malformed, too old or does not match."""


def sign(secret: str | bytes, body: str | bytes, timestamp: int | None = None) -> str:
    """The header value the server would send for ``body`` at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_digest(secret, t, body)}"


def _digest(secret: str | bytes, t: int, body: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    payload = body.encode() if isinstance(body, str) else body
    return hmac.new(key, f"{t}.".encode() + payload, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: str | bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``body`` (the raw request body, exactly as received). Returns the
    signed timestamp; raises SignatureError when it does not match or is more than ``tolerance``
    seconds from now (a replay). Several ``v1=`` values (a rotated secret) are accepted: any match."""
    if not header:
        raise SignatureError("No signature header.")
    t: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                t = int(value)
            except ValueError:
                raise SignatureError("The signature's timestamp is not a number.") from None
        elif key == "v1" and value:
            signatures.append(value.strip())
    if t is None or not signatures:
        raise SignatureError("The signature header must be 't=<unix>,v1=<hex>'.")
    current = time.time() if now is None else now
    if tolerance is not None and abs(current - t) > tolerance:
        raise SignatureError(f"The signature's timestamp is {int(current - t)} s from now (tolerance {tolerance} s).")
    expected = _digest(secret, t, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("The signature does not match the body.")
    return t
