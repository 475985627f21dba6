"""Deliveries reuse a kept-alive connection to the receiver, and a connection the receiver dropped is
replaced without costing the event an attempt (the figures: bench/webhooks.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scheduling import services as engine
from tests import factories
from tests.webhooks.helpers import buy, endpoint
from webhooks import delivery
from webhooks.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db


class KeepAliveReceiver:
    """An HTTP/1.1 server that keeps connections open and records, per request, the client's port
    (one port = one TCP connection). ``drop_every_second`` closes a connection at its second
    request without answering, as a receiver's idle timeout racing the next request does."""

    def __init__(self, drop_every_second: bool = False) -> None:
        self.ports: list[int] = []
        self.dropped = 0
        self.per_connection: dict[int, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                port = self.client_address[1]
                n = receiver.per_connection[port] = receiver.per_connection.get(port, 0) + 1
                if drop_every_second and n == 2:
                    receiver.dropped += 1
                    self.close_connection = True
                    return  # no answer: the client sees the connection closed
                receiver.ports.append(port)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


@pytest.fixture
def keepalive() -> Iterator[KeepAliveReceiver]:
    r = KeepAliveReceiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _three_events(renter, offer):  # type: ignore[no-untyped-def]
    booking = buy(renter, offer)
    engine.booking_transition(actor=None, booking=booking, to="provisioning")
    engine.booking_transition(actor=None, booking=booking, to="running")


def test_deliveries_to_one_receiver_share_one_connection(renter, offer, keepalive, allow_local):
    ep, _ = endpoint(renter, keepalive.url)
    _three_events(renter, offer)
    assert delivery.deliver_endpoint(ep.pk) == 3
    assert len(keepalive.ports) == 3 and len(set(keepalive.ports)) == 1, keepalive.ports
    # A later run (another task in the same worker process) still uses it.
    engine.booking_release(actor=renter, booking_id=Delivery.objects.first().booking_id)
    assert delivery.deliver_endpoint(ep.pk) >= 1
    assert set(keepalive.ports) == {keepalive.ports[0]}


def test_a_dropped_connection_is_replaced_without_a_failed_attempt(renter, offer, allow_local):
    flaky = KeepAliveReceiver(drop_every_second=True)
    try:
        ep, _ = endpoint(renter, flaky.url)
        _three_events(renter, offer)
        assert delivery.deliver_endpoint(ep.pk) == 3
        assert flaky.dropped >= 1
        assert len(set(flaky.ports)) >= 2  # a new connection after each drop
        assert not DeliveryAttempt.objects.filter(succeeded=False).exists()
        assert set(Delivery.objects.values_list("state", "attempts")) == {("delivered", 1)}
    finally:
        flaky.server.shutdown()
        flaky.server.server_close()


def test_a_receiver_that_never_answers_is_a_failed_attempt_not_a_loop(renter, offer, allow_local):
    """Only one retry on a new connection: a receiver that always hangs up costs one failed attempt."""

    class Rude(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        calls = 0

        def do_POST(self) -> None:
            Rude.calls += 1
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Rude)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ep, _ = endpoint(renter, f"http://127.0.0.1:{server.server_address[1]}/hooks")
        buy(renter, offer)
        assert delivery.deliver_endpoint(ep.pk) == 0
        attempt = DeliveryAttempt.objects.get()
        assert not attempt.succeeded and attempt.error.startswith("No answer")
        assert Rude.calls == 2
        assert Delivery.objects.get().state == "pending"  # retried later, at the backoff
    finally:
        server.shutdown()
        server.server_close()
