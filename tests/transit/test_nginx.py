"""The production front (deploy/nginx/marketplace.conf, rendered by deploy/nginx/render.sh): TLS 1.2 and
1.3 only, HSTS on every answer, http redirected to https, the scheme and client address passed to the app
in headers the client cannot forge, static files served by nginx itself."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.transit import servers
from tests.transit.servers import Nginx

pytestmark = pytest.mark.integration

HSTS = "max-age=31536000; includeSubDomains; preload"


class _Echo(BaseHTTPRequestHandler):
    """The app's stand-in: answers with the request line and headers it received, and an HSTS header of
    its own (as Django sends one), which the front must replace rather than duplicate."""

    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.seen.append(record)
        body = json.dumps(record).encode()
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Strict-Transport-Security", "max-age=60")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front() -> Iterator[Nginx]:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        with servers.nginx(upstream=f"127.0.0.1:{backend.server_address[1]}") as nginx:
            yield nginx
    finally:
        backend.shutdown()


def _context(ca: str, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that speaks exactly ``version``. SECLEVEL=0 lets this OpenSSL offer TLS 1.0/1.1 at all,
    so a refusal is the server's (the control test below shows this client does connect where allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 / TLSv1_1
        context = ssl.create_default_context(cafile=ca)
        context.minimum_version = context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _handshake(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


def _get(front: Nginx, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection(
        "localhost", front.https_port, context=_context(str(front.pki.ca_cert), ssl.TLSVersion.TLSv1_3), timeout=5
    )
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read_body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_tls_12_and_13_are_accepted(front, version, name):
    assert _handshake(front.https_port, _context(str(front.pki.ca_cert), version)) == name


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_10_and_11_are_refused(front, version):
    context = _context(str(front.pki.ca_cert), getattr(ssl.TLSVersion, version))
    with pytest.raises(ssl.SSLError):
        _handshake(front.https_port, context)


def test_the_old_protocol_client_does_connect_to_a_server_that_allows_it(front):
    """Control for the refusal above: the same TLS 1.0 client against a Python server that permits 1.0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.minimum_version = ssl.TLSVersion.TLSv1
        server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    server_context.load_cert_chain(front.pki.cert, front.pki.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            with server_context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        assert _handshake(port, _context(str(front.pki.ca_cert), ssl.TLSVersion.TLSv1)) == "TLSv1"
    finally:
        thread.join(5)
        listener.close()


def test_every_https_answer_carries_one_hsts_header(front):
    for path in ("/", "/missing", "/static/transit.txt", "/static/absent.css"):
        response = _get(front, path)
        assert response.headers.get_all("Strict-Transport-Security") == [HSTS], path


def test_plain_http_is_redirected_to_https(front):
    conn = http.client.HTTPConnection("localhost", front.http_port, timeout=5)
    conn.request("GET", "/offerings/?page=2")
    response = conn.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == f"https://localhost:{front.https_port}/offerings/?page=2"
    conn.close()
    _Echo.seen.clear()


def test_the_app_is_told_the_scheme_and_the_client_and_a_forged_scheme_is_overwritten(front):
    _Echo.seen.clear()
    response = _get(front, "/api/v1/offerings", {"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.7"})
    assert response.status == 200
    seen = _Echo.seen[-1]["headers"]
    assert seen["x-forwarded-proto"] == "https"
    assert seen["host"] == "localhost"
    # nginx appends the peer it saw; the app reads right to left past TRUSTED_PROXIES (marketplace.lib.client_ip).
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"


def test_static_files_are_served_by_nginx_without_the_app(front):
    _Echo.seen.clear()
    response = _get(front, "/static/transit.txt")
    assert response.status == 200 and response.read_body == b"served by nginx\n"  # type: ignore[attr-defined]
    assert _get(front, "/static/absent.css").status == 404
    assert _Echo.seen == []


def test_the_app_behind_the_front_knows_the_request_was_https(tmp_path):
    """gunicorn with deploy/gunicorn.conf.py, the app's settings and TRUSTED_PROXIES=127.0.0.1 behind the
    front: with DJANGO_SECURE_SSL_REDIRECT on, a request through nginx is answered (Django believed
    X-Forwarded-Proto), while the same request straight to gunicorn, plain http, is redirected."""
    port = servers.free_port()
    env = os.environ | {
        "TRUSTED_PROXIES": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_DEBUG": "true",
    }
    log = tmp_path / "gunicorn.log"
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "marketplace.wsgi:application", "--config", "deploy/gunicorn.conf.py", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--error-logfile", str(log)],
        cwd=servers.ROOT, env=env,
    )  # fmt: skip
    try:
        servers.wait_for_port(port, proc=proc, timeout=60, log=log)
        direct = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        direct.request("GET", "/no-such-page", headers={"Host": "localhost"})
        plain = direct.getresponse()
        assert plain.status == 301 and plain.headers["Location"] == "https://localhost/no-such-page"
        direct.close()
        with servers.nginx(upstream=f"127.0.0.1:{port}") as nginx:
            through = _get(nginx, "/no-such-page")
            assert through.status == 404  # the app's own not-found page: no redirect loop
            assert through.headers.get_all("Strict-Transport-Security") == [HSTS]
    finally:
        proc.terminate()
        proc.wait(20)


def test_the_template_refuses_values_that_would_write_nginx_directives(tmp_path):
    env = os.environ | {
        "NGINX_SERVER_NAME": "market.example.com; include /etc/shadow",
        "NGINX_TLS_CERT": "/etc/ssl/c.pem",
        "NGINX_TLS_KEY": "/etc/ssl/k.pem",
    }
    done = subprocess.run(
        ["bash", str(servers.ROOT / "deploy/nginx/render.sh"), str(tmp_path / "out.conf")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "refusing a value" in done.stderr
    assert not (tmp_path / "out.conf").exists()
    missing = subprocess.run(
        ["bash", str(servers.ROOT / "deploy/nginx/render.sh")],
        env={k: v for k, v in os.environ.items() if not k.startswith("NGINX_")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0 and "set NGINX_SERVER_NAME" in missing.stderr
