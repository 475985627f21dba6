"""No server-side request forgery through an owner's cloud URLs (issue 14, item 1).

An attacker is an owner who types an internal address as their cloud. Each test starts a tiny HTTP
server on a loopback address as the attacker's target (an internal service) and asserts it received
no request; the one test that allows the range proves the target would otherwise be reached, and that
the owner is then told a generic reason, never the body it answered.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from marketplace.lib import netguard
from marketplace.lib.errors import ValidationFailed
from owners import services
from owners.models import Cloud
from provisioning.drivers import openstack
from provisioning.drivers.netguard import DestinationRefused, guarded_session
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db

INTERNAL_BODY = "internal-admin-panel: db_password=hunter2"


class Server:
    """A tiny HTTP server on one loopback address; records every request it gets."""

    def __init__(self, host: str, answer: Any = None) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path))
                status, headers, payload = (answer or outer.default)(self, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def default(handler: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 500, {"Content-Type": "text/plain"}, INTERNAL_BODY.encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def target() -> Iterator[Server]:
    """The attacker's target: an internal service on 127.0.0.2 (loopback, another address)."""
    server = Server("127.0.0.2")
    yield server
    server.close()


def fake_keystone(catalog_url: str) -> Server:
    """A Keystone v3 on 127.0.0.1 that accepts any application credential and lists ``catalog_url``
    as the compute endpoint: the catalog is the remote's word, like every URL in it."""

    def answer(handler: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if handler.command == "POST" and handler.path.endswith("/auth/tokens"):
            token = {
                "token": {
                    "methods": ["application_credential"],
                    "expires_at": "2099-01-01T00:00:00.000000Z",
                    "issued_at": "2026-01-01T00:00:00.000000Z",
                    "user": {"id": "u1", "name": "owner", "domain": {"id": "default", "name": "Default"}},
                    "project": {"id": "p1", "name": "p", "domain": {"id": "default", "name": "Default"}},
                    "roles": [{"id": "r1", "name": "member"}],
                    "catalog": [
                        {
                            "type": "compute",
                            "name": "nova",
                            "id": "c1",
                            "endpoints": [
                                {
                                    "id": "e1",
                                    "interface": "public",
                                    "region": "RegionOne",
                                    "region_id": "RegionOne",
                                    "url": catalog_url,
                                }
                            ],
                        }
                    ],
                }
            }
            return 201, {"X-Subject-Token": "tok", "Content-Type": "application/json"}, json.dumps(token).encode()
        return 404, {}, b""

    return Server("127.0.0.1", answer)


def openstack_row(owner: Any, **fields: Any) -> Cloud:
    """A cloud row as the database may hold it (written before these rules, or by plain SQL): the
    check at connection time must hold on its own, whatever the forms let through."""
    cloud = Cloud.objects.create(
        owner=owner, name=f"c{Cloud.objects.count()}", driver="openstack", app_credential_id="id", **fields
    )
    cloud.set_secret("secret")
    cloud.save()
    for perm in ("view_cloud", "change_cloud"):
        assign_perm(f"owners.{perm}", owner, cloud)
    return cloud


def test_plain_http_is_refused_when_the_owner_saves(owner):
    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(
            owner, driver="openstack", auth_url="http://keystone.example.test:5000/v3", app_credential_id="i"
        )
    assert exc.value.errors["auth_url"] == [
        "Use an https:// address: the marketplace does not send credentials over plain http."
    ]
    assert not Cloud.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5000/v3",
        "https://10.0.0.5/v3",
        "https://192.168.1.1/v3",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:5000/v3",
        "https://[fd00::1]/v3",
        "https://[::ffff:127.0.0.1]/v3",
        "https://[64:ff9b::a00:1]/v3",  # NAT64 to 10.0.0.1
        "https://[2002:a9fe:a9fe::1]/v3",  # 6to4 to 169.254.169.254
        "https://100.64.0.1/v3",
        "https://0.0.0.0/v3",
        "https://localhost:5000/v3",
    ],
)
def test_internal_addresses_are_refused_when_the_owner_saves(owner, url):
    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(owner, driver="openstack", auth_url=url, app_credential_id="id")
    assert exc.value.errors["auth_url"] == [netguard.GENERIC_REFUSAL]
    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(
            owner, driver="openstack", auth_url="https://keystone.example.test/v3", app_credential_id="id",
            compute_endpoint_override=url.replace("/v3", "/v2.1"),
        )  # fmt: skip
    assert exc.value.errors["compute_endpoint_override"] == [netguard.GENERIC_REFUSAL]


def test_portal_form_shows_the_refusal(owner):
    response = login(owner).post(
        reverse("owners:cloud_create"),
        {"name": "x", "driver": "openstack", "auth_url": "https://169.254.169.254/", "region_name": "RegionOne",
         "app_credential_id": "id"},
    )  # fmt: skip
    assert response.status_code == 200
    assert netguard.GENERIC_REFUSAL in response.content.decode()
    assert not Cloud.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.2", "10.0.0.5", "169.254.169.254", "[::1]", "[fd00::5]"])
def test_connection_to_an_internal_address_is_refused_before_any_request(owner, settings, target, host):
    # Even with plain http allowed for the name, the address itself is refused; no socket is opened.
    settings.CLOUD_URL_HTTP_HOSTS = [host]
    cloud = openstack_row(owner, auth_url=f"http://{host}:{target.port}/v3")
    result = services.cloud_test_connection(actor=owner, cloud=cloud)
    assert (result.ok, result.message) == (False, netguard.GENERIC_REFUSAL)
    assert target.requests == []


def test_plain_http_is_refused_at_connection_time(owner, target):
    cloud = openstack_row(owner, auth_url=f"{target.url}/v3")
    result = services.cloud_test_connection(actor=owner, cloud=cloud)
    assert not result.ok
    assert result.message == "Use an https:// address: the marketplace does not send credentials over plain http."
    assert target.requests == []


def test_a_name_that_resolves_to_a_private_address_is_refused(owner, settings, target, monkeypatch):
    """The name looks public; DNS (the attacker's) answers with an internal address."""
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(target.host if host == "cloud.attacker.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings.CLOUD_URL_HTTP_HOSTS = ["cloud.attacker.test"]
    cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=f"http://cloud.attacker.test:{target.port}/v3",  # passes the form: no literal address
        app_credential_id="id",
        app_credential_secret="secret",
    )
    result = services.cloud_test_connection(actor=owner, cloud=cloud)
    assert (result.ok, result.message) == (False, netguard.GENERIC_REFUSAL)
    assert target.requests == []


def test_a_catalog_endpoint_on_a_private_address_is_refused_when_it_is_called(owner, settings, target):
    """Keystone itself is allowed (the operator allowed 127.0.0.1 only); the compute endpoint its
    catalog lists is on 127.0.0.2, which nobody allowed: refused when the driver calls it."""
    keystone = fake_keystone(f"{target.url}/v2.1")
    try:
        settings.CLOUD_URL_HTTP_HOSTS = ["127.0.0.1", "127.0.0.2"]
        settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        cloud = openstack_row(owner, auth_url=f"{keystone.url}/v3")
        result = services.cloud_test_connection(actor=owner, cloud=cloud)
    finally:
        keystone.close()
    assert ("POST", "/v3/auth/tokens") in keystone.requests  # authenticated at the allowed Keystone
    assert (result.ok, result.message) == (False, netguard.GENERIC_REFUSAL)
    assert target.requests == []


def test_an_allowed_range_lets_it_through_and_the_owner_sees_no_remote_body(owner, settings, target):
    """The operator allows 127.0.0.0/8 (a local development cloud): the request is made, and the
    internal body it answered (a 500) is not what the owner reads, in the result or the portal."""
    keystone = fake_keystone(f"{target.url}/v2.1")
    try:
        settings.CLOUD_URL_HTTP_HOSTS = ["127.0.0.1", "127.0.0.2"]
        settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        cloud = openstack_row(owner, auth_url=f"{keystone.url}/v3")
        client = login(owner)
        client.post(reverse("owners:cloud_test", args=[cloud.pk]))
        page = client.get(reverse("owners:cloud_detail", args=[cloud.pk])).content.decode()
    finally:
        keystone.close()
    assert target.requests  # reached: the allowance works
    cloud.refresh_from_db()
    assert cloud.last_check_ok is False
    assert "hunter2" not in cloud.last_check_message and "internal-admin-panel" not in cloud.last_check_message
    assert "hunter2" not in page and "internal-admin-panel" not in page
    assert cloud.last_check_message in page


def test_public_addresses_pass_the_static_check():
    assert netguard.check_url("https://keystone.example.com:5000/v3") == ("keystone.example.com", 5000)
    assert netguard.check_url("https://8.8.8.8/v3") == ("8.8.8.8", 443)
    assert netguard.check_url("https://[2606:4700:4700::1111]/v3") == ("2606:4700:4700::1111", 443)


def test_http_error_descriptions_never_carry_the_remote_body():
    from openstack import exceptions as os_exc

    exc = os_exc.HttpException(message="boom", details=INTERNAL_BODY)
    exc.status_code = 500
    assert openstack.describe_error(exc) == "The cloud answered with an error (HTTP 500)."


def test_a_redirect_to_an_internal_address_is_refused(settings, target):
    def redirect(handler: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""

    front = Server("127.0.0.1", redirect)
    try:
        settings.CLOUD_URL_HTTP_HOSTS = ["127.0.0.1", "169.254.169.254"]
        settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        with pytest.raises(DestinationRefused):
            guarded_session().get(f"{front.url}/v3", timeout=5)
    finally:
        front.close()
    assert front.requests == [("GET", "/v3")]


def test_the_connection_goes_to_the_address_that_was_checked(settings, target, monkeypatch):
    """DNS rebinding: the name answers an allowed address once, then an internal one. The socket is
    opened to the address that was checked; the name is not looked up a second time."""
    good = Server("127.0.0.1", lambda h, b: (200, {}, b"ok"))
    real = socket.getaddrinfo
    lookups: list[str] = []

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.attacker.test":
            lookups.append(host)
            host = good.host if len(lookups) == 1 else target.host
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    try:
        settings.CLOUD_URL_HTTP_HOSTS = ["rebind.attacker.test"]
        settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        response = guarded_session().get(f"http://rebind.attacker.test:{good.port}/", timeout=5)
    finally:
        good.close()
    assert response.text == "ok" and lookups == ["rebind.attacker.test"]
    assert target.requests == []


def test_the_keystone_less_endpoint_exists_only_in_development(owner, settings):
    settings.CLOUD_NOAUTH_ENDPOINTS = False
    with pytest.raises(ValidationFailed) as exc:
        factories.cloud(owner, driver="openstack", compute_endpoint_override="https://nova.example.test/v2.1")
    assert exc.value.errors["auth_url"] == ["An OpenStack cloud needs its Keystone auth URL."]
    row = openstack_row(owner, compute_endpoint_override="https://nova.example.test/v2.1")
    result = services.cloud_test_connection(actor=owner, cloud=row)
    assert not result.ok and "endpoint-only clouds are for development" in result.message


def test_the_keystone_less_endpoint_in_development_goes_through_the_same_guard(owner, settings):
    """A noauth2 Nova (development): the static token is sent to the override, which is checked like
    every other URL (allowed here for 127.0.0.1 only)."""
    headers: list[str] = []

    def nova(handler: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers.append(handler.headers.get("X-Auth-Token", ""))
        self_link = [{"rel": "self", "href": f"{server.url}/v2.1/"}]
        version = {"id": "v2.1", "status": "CURRENT", "version": "2.79", "min_version": "2.1", "links": self_link}
        payload = {
            "flavors": [{"id": "1", "name": "m1.tiny", "links": []}],
            "version": version | {"updated": "2013-07-23T11:33:21Z"},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    server = Server("127.0.0.1", nova)
    try:
        settings.CLOUD_NOAUTH_ENDPOINTS = True
        settings.CLOUD_URL_HTTP_HOSTS = ["127.0.0.1"]
        settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        cloud = factories.cloud(
            owner, driver="openstack", compute_endpoint_override=f"{server.url}/v2.1", project_id="demo"
        )
        result = services.cloud_test_connection(actor=owner, cloud=cloud)
        settings.CLOUD_URL_ALLOWED_NETWORKS = []
        refused = services.cloud_test_connection(actor=owner, cloud=cloud)
    finally:
        server.close()
    assert result.ok, result.message
    assert "admin:demo" in headers  # the flavors call carried the static token
    assert (refused.ok, refused.message) == (False, netguard.GENERIC_REFUSAL)
