"""Never delivered to loopback, link-local or private addresses unless the operator allows it:
checked when the URL is saved and again when each delivery connects (the name resolved then)."""

from __future__ import annotations

import socket

import pytest

from tests import factories
from tests.webhooks.helpers import buy, endpoint
from webhooks import delivery, netguard
from webhooks.models import DeliveryAttempt, Endpoint

pytestmark = pytest.mark.django_db


def _resolves_to(monkeypatch, *addresses):  # type: ignore[no-untyped-def]
    def fake(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch, settings, address):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _resolves_to(monkeypatch, address)
    with pytest.raises(netguard.Refused):
        netguard.resolve("hooks.example.com", 443)


def test_one_private_address_among_public_ones_refuses_the_name(monkeypatch):
    _resolves_to(monkeypatch, "93.184.215.14", "10.0.0.5")  # a rebinding answer
    with pytest.raises(netguard.Refused):
        netguard.resolve("hooks.example.com", 443)


def test_a_public_address_is_allowed(monkeypatch):
    _resolves_to(monkeypatch, "93.184.215.14")
    assert [str(a) for a in netguard.resolve("hooks.example.com", 443)] == ["93.184.215.14"]


def test_the_operator_allowance_lets_its_ranges_through(monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    _resolves_to(monkeypatch, "10.0.0.5")
    assert [str(a) for a in netguard.resolve("hooks.internal", 443)] == ["10.0.0.5"]
    _resolves_to(monkeypatch, "192.168.0.5")
    with pytest.raises(netguard.Refused):
        netguard.resolve("hooks.internal", 443)


def test_the_cloud_allowance_is_not_the_webhooks_allowance(settings):
    settings.CLOUD_URL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(netguard.Refused):
        netguard.check_url("https://127.0.0.1/in")


def test_a_delivery_to_a_private_address_is_refused_without_the_allowance(owner, renter, receiver, settings):
    """The endpoint was saved while the operator allowed loopback; the allowance is gone when it is sent:
    the connection is refused (nothing reaches the server), logged as a failed attempt."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_ALLOW_HTTP = True
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, factories.offering(owner, publish=True))
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert delivery.deliver_endpoint(ep.pk) == 0
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("Refused: Webhooks are delivered only to public")
    assert Endpoint.objects.get(pk=ep.pk).consecutive_failures == 1


def test_a_redirect_is_not_followed(owner, renter, receiver, allow_local):
    ep, _ = endpoint(renter, receiver.url)
    buy(renter, factories.offering(owner, publish=True))
    receiver.answer = lambda r: 302
    assert delivery.deliver_endpoint(ep.pk) == 0
    assert len(receiver.requests) == 1
    assert DeliveryAttempt.objects.get().error == "Redirects are not followed."
