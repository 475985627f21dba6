"""Calls out of the marketplace check the server's certificate: Stripe (billing.stripe_gateway) and an
owner's OpenStack cloud (provisioning.drivers.openstack). A local https server whose certificate a
throwaway CA signed is accepted when STRIPE_CA_BUNDLE / CLOUD_CA_BUNDLE names that CA, and refused
without it (the default bundles do not know it), before any request reaches the server."""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from billing import stripe_gateway
from owners.models import Cloud
from provisioning.drivers import openstack
from tests.transit.pki import Issued, make_ca

pytestmark = pytest.mark.integration


@dataclass
class HttpsServer:
    url: str
    pki: Issued
    requests: list[tuple[str, str]]


class _Handler(BaseHTTPRequestHandler):
    """Stripe's answer to a payment method lookup; Keystone's 401 to any token request."""

    requests: list[tuple[str, str]]

    def _answer(self) -> None:
        self.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/v1/payment_methods/"):
            status, body = 200, {"id": self.path.rsplit("/", 1)[-1], "object": "payment_method", "type": "card"}
        elif self.path.endswith("/auth/tokens"):
            status, body = (
                401,
                {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                },
            )
        else:
            status, body = 404, {"error": {"message": "not here"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https_server() -> Iterator[HttpsServer]:
    directory = Path(tempfile.mkdtemp(prefix="mkt-transit-https-"))
    pki = make_ca(directory, "outbound")
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"requests": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield HttpsServer(url=f"https://localhost:{server.server_address[1]}", pki=pki, requests=seen)
    finally:
        server.shutdown()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def stripe_at(settings, https_server):  # type: ignore[no-untyped-def]
    settings.STRIPE_API_BASE = https_server.url
    https_server.requests.clear()
    stripe_gateway._client.cache_clear()
    yield settings
    stripe_gateway._client.cache_clear()


def test_stripe_calls_succeed_with_the_ca_bundle_setting(stripe_at, https_server):
    stripe_at.STRIPE_CA_BUNDLE = str(https_server.pki.ca_cert)
    method = stripe_gateway.retrieve_payment_method("pm_transit")
    assert method["id"] == "pm_transit" and method["type"] == "card"
    assert https_server.requests == [("GET", "/v1/payment_methods/pm_transit")]


def test_stripe_calls_fail_without_it(stripe_at, https_server):
    stripe_at.STRIPE_CA_BUNDLE = ""  # the bundle shipped with the stripe library
    with pytest.raises(stripe_gateway.GatewayTimeout, match="SSL certificate"):
        stripe_gateway.retrieve_payment_method("pm_transit")
    assert https_server.requests == []  # the handshake failed: no request (and no API key) was sent


def test_stripe_calls_fail_with_another_ca(stripe_at, https_server, tmp_path):
    stripe_at.STRIPE_CA_BUNDLE = str(make_ca(tmp_path, "another").ca_cert)
    with pytest.raises(stripe_gateway.GatewayTimeout):
        stripe_gateway.retrieve_payment_method("pm_transit")
    assert https_server.requests == []


@pytest.fixture
def cloud(settings, https_server) -> Cloud:  # type: ignore[no-untyped-def]
    # netguard refuses loopback addresses unless the operator allows them: the test's server is local.
    settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    https_server.requests.clear()
    # pk given: the secret is bound to its row (an unsaved cloud has none; this test needs no database).
    cloud = Cloud(pk=1, name="transit", auth_url=f"{https_server.url}/v3", app_credential_id="cred-1", project_id="p1")
    cloud.set_secret("app-credential-secret")
    return cloud


def test_the_cloud_connection_verifies_with_the_ca_bundle_setting(settings, cloud, https_server):
    settings.CLOUD_CA_BUNDLE = str(https_server.pki.ca_cert)
    result = openstack.test_connection(cloud)
    # TLS held: Keystone was reached and answered (a 401 for these made-up credentials).
    assert result.ok is False and "401" in result.message
    assert ("POST", "/v3/auth/tokens") in https_server.requests


def test_the_cloud_connection_fails_without_it(settings, cloud, https_server):
    settings.CLOUD_CA_BUNDLE = ""  # requests' own bundle
    result = openstack.test_connection(cloud)
    assert result.ok is False
    assert result.message.startswith("The cloud's TLS certificate was not accepted")
    assert https_server.requests == []  # the credential never left the marketplace
