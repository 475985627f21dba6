"""Test harness: a real localstripe subprocess, and a delaying proxy in front of it for fault tests."""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalStripe:
    def __init__(self, state_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_file = state_dir / "localstripe.pickle"
        self.log = open(state_dir / "localstripe.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demo.devstripe", str(self.port), str(self.state_file)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/js.stripe.com/v3/", timeout=1)
                return
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"localstripe exited: {(state_dir / 'localstripe.log').read_text()}")
                time.sleep(0.1)
        raise RuntimeError("localstripe did not start")

    def reset(self) -> None:
        requests.delete(self.url + "/_config/data", timeout=5).raise_for_status()
        requests.delete(self.url + "/_config/contract/data", timeout=5).raise_for_status()

    def register_webhook(self, url: str, secret: str, name: str = "test") -> None:
        requests.post(
            self.url + f"/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=5
        ).raise_for_status()

    def unregister_webhooks(self) -> None:
        # localstripe has no delete route: point the webhook at a closed port.
        self.register_webhook(f"http://127.0.0.1:{free_port()}/nowhere", "whsec_unused")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class DelayingProxy:
    """Forwards to localstripe; a rule (method, path regex, seconds) delays that response once.

    Used to make the client time out after Stripe did the work, or to let a
    webhook arrive before the API call returns.
    """

    def __init__(self, target: str):
        self.target = target
        self.rules: list[tuple[str, re.Pattern[str], float]] = []
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Idempotency-Key header)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # type: ignore[no-untyped-def]
                pass

            def _forward(self) -> None:
                proxy.seen.append((self.command, self.path.split("?")[0], self.headers.get("Idempotency-Key")))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                resp = requests.request(self.command, proxy.target + self.path, data=body, headers=headers, timeout=30)
                delay = proxy._take_delay(self.command, self.path)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(resp.status_code)
                    for k, v in resp.headers.items():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(resp.content)))
                    self.end_headers()
                    self.wfile.write(resp.content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delay_once(self, method: str, path_regex: str, seconds: float) -> None:
        self.rules.append((method, re.compile(path_regex), seconds))

    def _take_delay(self, method: str, path: str) -> float:
        for i, (m, rx, seconds) in enumerate(self.rules):
            if m == method and rx.search(path):
                del self.rules[i]
                return seconds
        return 0.0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
