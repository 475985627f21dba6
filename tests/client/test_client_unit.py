"""The client's transport without the marketplace: a stub HTTP server answers 429s and odd bodies;
webhook signatures are checked as the server signs them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slicemarket import (
    ApiError,
    Client,
    RateLimited,
    ServerError,
    SignatureError,
    TransportError,
    sign,
    verify_signature,
)


class Stub:
    """Answers each request with the next of ``replies`` (status, headers, body); records what came in."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, str], bytes]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                stub.seen.append((self.command, self.path, dict(self.headers)))
                status, headers, body = stub.replies.pop(0) if stub.replies else (200, {}, b"{}")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.server.shutdown()
    s.server.server_close()


def limited(wait: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": "rate_limited", "detail": "Too many requests", "retry_after": wait}).encode()
    return 429, {"Retry-After": wait, "Content-Type": "application/json"}, body


def test_429_is_retried_after_retry_after_bounded(stub: Stub) -> None:
    waits: list[float] = []
    stub.replies = [limited("3"), limited("5000"), (200, {}, b'{"booking": 7, "state": "running"}')]
    c = Client(stub.url, token="t", retries=3, max_retry_after=10, sleep=waits.append)
    assert c.usage(7).state == "running"
    assert waits == [3.0, 10.0]  # the server's wait, but never more than the bound
    assert [s[2]["Authorization"] for s in stub.seen] == ["Bearer t"] * 3


def test_429_beyond_the_retries_raises_with_the_wait(stub: Stub) -> None:
    stub.replies = [limited("2"), limited("2")]
    c = Client(stub.url, retries=1, sleep=lambda s: None)
    with pytest.raises(RateLimited) as exc:
        c.usage(1)
    assert (exc.value.status, exc.value.code, exc.value.retry_after) == (429, "rate_limited", 2.0)
    assert len(stub.seen) == 2


def test_writes_carry_a_fresh_idempotency_key_unless_given(stub: Stub) -> None:
    stub.replies = [(201, {}, b'{"id": 1, "state": "confirmed"}')] * 2 + [(200, {}, b'{"id": 1, "state": "released"}')]
    c = Client(stub.url, sleep=lambda s: None)
    c.request("S1")
    c.request("S1")
    c.release(1, idempotency_key="mine")
    keys = [s[2].get("Idempotency-Key") for s in stub.seen]
    assert keys[0] and keys[1] and keys[0] != keys[1] and keys[2] == "mine"
    assert [s[1] for s in stub.seen] == ["/api/v1/timeslots/S1/request"] * 2 + ["/api/v1/timeslots/1/release"]


def test_connection_errors_are_retried_only_when_repeating_is_safe() -> None:
    waits: list[float] = []
    c = Client("http://127.0.0.1:9", retries=2, timeout=2, sleep=waits.append)  # nothing listens on port 9
    with pytest.raises(TransportError):
        c.usage(1)
    assert len(waits) == 2  # GET: retried
    waits.clear()
    with pytest.raises(TransportError):
        c.call("POST", "timeslots/S/request", json={})  # a POST without Idempotency-Key: never repeated
    assert waits == []


def test_an_error_that_is_not_json_is_still_an_api_error(stub: Stub) -> None:
    stub.replies = [(502, {"Content-Type": "text/html"}, b"<html>Bad gateway</html>")]
    with pytest.raises(ServerError) as exc:
        Client(stub.url).usage(1)
    assert isinstance(exc.value, ApiError) and exc.value.status == 502 and exc.value.code == "error"
    assert "Bad gateway" in exc.value.message


def test_pages_follow_next(stub: Stub) -> None:
    second = f"{stub.url}/api/v1/bookings?limit=1&offset=1"
    stub.replies = [
        (200, {}, json.dumps({"count": 2, "next": second, "results": [{"id": 2, "state": "confirmed"}]}).encode()),
        (200, {}, json.dumps({"count": 2, "next": None, "results": [{"id": 1, "state": "released"}]}).encode()),
    ]
    assert [b.id for b in Client(stub.url).bookings(limit=1)] == [2, 1]
    assert [s[1] for s in stub.seen] == ["/api/v1/bookings?limit=1", "/api/v1/bookings?limit=1&offset=1"]


# ---- webhook signatures -------------------------------------------------------------------------------


def test_a_signature_made_with_the_secret_is_accepted() -> None:
    body = b'{"id": "evt_1", "type": "booking.confirmed"}'
    header = sign("whsec_x", body, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert verify_signature("whsec_x", header, body, now=1_800_000_010) == 1_800_000_000
    assert verify_signature("whsec_x", header, body.decode(), now=1_800_000_010) == 1_800_000_000


@pytest.mark.parametrize(
    ("secret", "header", "body", "now", "reason"),
    [
        ("other", None, b"{}", 1_800_000_000, "No signature header"),
        ("whsec_x", "v1=abc", b"{}", 1_800_000_000, "t=<unix>,v1=<hex>"),
        ("whsec_x", "t=soon,v1=abc", b"{}", 1_800_000_000, "not a number"),
        ("other", sign("whsec_x", b"{}", 1_800_000_000), b"{}", 1_800_000_000, "does not match"),
        ("whsec_x", sign("whsec_x", b"{}", 1_800_000_000), b"{ }", 1_800_000_000, "does not match"),
        ("whsec_x", sign("whsec_x", b"{}", 1_800_000_000), b"{}", 1_800_000_301, "tolerance 300"),
    ],
)
def test_a_wrong_missing_or_stale_signature_is_refused(secret, header, body, now, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureError, match=reason):
        verify_signature(secret, header, body, now=now)


def test_any_of_several_v1_values_may_match_during_a_secret_rotation() -> None:
    new = sign("new", b"{}", 1_800_000_000).split(",")[1]
    header = f"t=1800000000,v1={'0' * 64},{new}"
    assert verify_signature("new", header, b"{}", now=1_800_000_000) == 1_800_000_000
