"""The signature a receiver checks: verify() accepts what sign() made and refuses any change."""

from __future__ import annotations

import time

import pytest

from webhooks import signing

SECRET = "whsec_test"
BODY = b'{"id":"e1","type":"booking.confirmed"}'


def test_verify_accepts_a_fresh_signature_and_returns_its_timestamp():
    t = int(time.time())
    header = signing.sign(SECRET, BODY, t)
    assert header.startswith(f"t={t},v1=")
    assert signing.verify(SECRET, header, BODY) == t
    assert signing.verify(SECRET, header, BODY.decode()) == t  # str or bytes


@pytest.mark.parametrize(
    ("secret", "body", "message"),
    [
        ("whsec_other", BODY, "does not match"),
        (SECRET, BODY.replace(b"confirmed", b"cancelled"), "does not match"),
        (SECRET, BODY + b" ", "does not match"),
    ],
)
def test_verify_refuses_another_secret_or_a_tampered_body(secret, body, message):
    header = signing.sign(SECRET, BODY)
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(secret, header, body)


def test_verify_refuses_an_old_timestamp_a_replay():
    old = int(time.time()) - 301
    header = signing.sign(SECRET, BODY, old)
    with pytest.raises(signing.SignatureError, match="too old"):
        signing.verify(SECRET, header, BODY)
    assert signing.verify(SECRET, header, BODY, tolerance=600) == old


def test_verify_refuses_a_timestamp_moved_with_the_old_signature():
    t = int(time.time()) - 1000
    forged = signing.sign(SECRET, BODY, t).replace(f"t={t}", f"t={int(time.time())}")
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(SECRET, forged, BODY)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=12", "t=x,v1=ab", "garbage"])
def test_verify_refuses_malformed_headers(header):
    with pytest.raises(signing.SignatureError):
        signing.verify(SECRET, header, BODY)


def test_verify_accepts_any_of_several_signatures():
    t = int(time.time())
    good = signing.sign(SECRET, BODY, t).split("v1=")[1]
    assert signing.verify(SECRET, f"t={t},v1={'0' * 64},v1={good}", BODY) == t


def test_signing_module_uses_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(signing.__file__).read_text())
    imported = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
