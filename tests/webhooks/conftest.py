"""Webhook tests: a frozen calendar (the engine's), a local HTTP receiver, and the operator's allowance
for it (127.0.0.0/8 over plain http), as the production setting would allow an internal receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_calendar():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=True):
        yield


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server that records every POST; ``answer(request)`` returns the status to answer."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], int] = lambda r: 200

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got = Received({k.lower(): v for k, v in self.headers.items()}, body)
            rec = holder["r"]
            rec.requests.append(got)
            status = rec.answer(got)
            payload = f"answer {status}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_local(settings):  # type: ignore[no-untyped-def]
    """The operator's allowance the tests use: the loopback range, over plain http."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_ALLOW_HTTP = True
    return settings
