"""One resolver gives the client's address (marketplace.lib.client_ip): forwarded headers count only
from TRUSTED_PROXIES, everything parsed is checked, and a malformed header never gives a 500. The
domain events, auditlog's history and allauth's rate limits all use it."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from audit.models import DomainEvent
from marketplace.lib import client_ip
from owners.models import Offering
from tests import factories
from tests.conftest import login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PEER = "203.0.113.9"


def _request(remote_addr: str = PEER, **headers: str):  # type: ignore[no-untyped-def]
    return RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)


# ---- the resolver ---------------------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip.client_ip(_request(HTTP_X_FORWARDED_FOR="198.51.100.1")) == PEER


def test_an_untrusted_peer_cannot_forward(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip.client_ip(_request(HTTP_X_FORWARDED_FOR="198.51.100.1")) == PEER


def test_a_trusted_proxy_names_the_client_and_the_client_cannot_prepend_one(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1", "10.1.0.0/16"]
    # The client wrote "1.1.1.1"; the outer proxy (10.1.2.3) appended the real client; the inner one is the peer.
    request = _request("10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7, 10.1.2.3")
    assert client_ip.client_ip(request) == "198.51.100.7"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("198.51.100.7:4711", "198.51.100.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("not-an-address", "10.0.0.1"),  # garbage stops at the last address a trusted hop vouched for
        ("198.51.100.7:99999", "10.0.0.1"),
        ("[2001:db8::7", "10.0.0.1"),
        ("198.51.100.7\x00", "10.0.0.1"),
        ("fe80::1%eth0", "10.0.0.1"),
        (",,,", "10.0.0.1"),
        ("9" * 5000, "10.0.0.1"),
    ],
)
def test_forwarded_entries_are_parsed_and_checked(settings, header, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_ip.client_ip(_request("10.0.0.1", HTTP_X_FORWARDED_FOR=header)) == expected


def test_a_peer_that_is_no_address_gives_none():
    assert client_ip.client_ip(_request("")) is None
    assert client_ip.client_ip(_request("unix:/run/gunicorn.sock")) is None


def test_ports_are_checked(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_ip.client_port(_request("10.0.0.1", HTTP_X_FORWARDED_PORT="443")) == 443
    for bad in ("99999999999999999999", "-1", "0", "65536", "https", "４４３"):
        assert client_ip.client_port(_request("10.0.0.1", HTTP_X_FORWARDED_PORT=bad)) is None
    assert client_ip.client_port(_request(PEER, HTTP_X_FORWARDED_PORT="443")) is None  # untrusted peer


# ---- through the portal: the domain event and auditlog's history ---------------------------


def _retire(client: Client, offer: Offering, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("owners:offering_status", args=[offer.pk]),
        {"status": "retired", "confirm": "yes"},
        REMOTE_ADDR=PEER,
        **headers,
    )


def _history(offer: Offering) -> LogEntry:
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Offering), object_pk=str(offer.pk), action=LogEntry.Action.UPDATE
    ).get()


def test_a_forged_forwarded_for_does_not_reach_the_audit_trail(owner):
    offer = factories.offering(owner)
    response = _retire(login(owner), offer, HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert response.status_code == 302
    assert DomainEvent.objects.get(verb="offering.retired").ip == PEER
    assert _history(offer).remote_addr == PEER  # django-auditlog's own middleware wrote 6.6.6.6 here


def test_a_trusted_proxy_forwards_the_client_into_both_logs(owner, settings):
    settings.TRUSTED_PROXIES = [PEER]
    offer = factories.offering(owner)
    assert _retire(login(owner), offer, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 302
    assert DomainEvent.objects.get(verb="offering.retired").ip == "198.51.100.7"
    assert _history(offer).remote_addr == "198.51.100.7"


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_FORWARDED_FOR": "not-an-address"},
        {"HTTP_X_FORWARDED_FOR": "300.1.2.3, [::1"},
        {"HTTP_X_FORWARDED_PORT": "99999999999999999999"},
        {"HTTP_X_FORWARDED_PORT": "-1"},
        {"HTTP_X_FORWARDED_PORT": "https"},
    ],
)
def test_malformed_forwarded_headers_never_give_a_500(owner, headers):
    offer = factories.offering(owner)
    client = login(owner)
    client.raise_request_exception = False
    response = _retire(client, offer, **headers)
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.status == "retired"
    entry = _history(offer)
    assert (entry.remote_addr, entry.remote_port) == (PEER, None)


def test_a_long_correlation_id_is_refused_with_400_and_changes_nothing(owner):
    offer = factories.offering(owner)
    client = login(owner)
    client.raise_request_exception = False
    events = DomainEvent.objects.count()
    response = _retire(client, offer, HTTP_X_CORRELATION_ID="x" * 300)
    assert response.status_code == 400
    assert "X-Correlation-ID must be 1 to 64" in response.content.decode()
    offer.refresh_from_db()
    assert offer.status == "draft" and DomainEvent.objects.count() == events
    assert not LogEntry.objects.filter(action=LogEntry.Action.UPDATE, object_pk=str(offer.pk)).exists()
    # A malformed X-Request-ID likewise; the API answers in JSON.
    assert Client().get("/api/v1/me", HTTP_X_REQUEST_ID="bad id\t").json() == {
        "detail": "X-Request-ID must be 1 to 64 letters, digits, '.', '_', ':' or '-'."
    }


def test_a_correlation_id_names_the_request_in_both_logs(owner):
    offer = factories.offering(owner)
    response = _retire(login(owner), offer, HTTP_X_CORRELATION_ID="trace-42.a")
    assert response["X-Request-ID"] == "trace-42.a"
    assert DomainEvent.objects.get(verb="offering.retired").request_id == "trace-42.a"
    assert _history(offer).cid == "trace-42.a"


# ---- sign-up and allauth's rate limits ------------------------------------------------------


def _signup(client: Client, email: str, **headers: str):  # type: ignore[no-untyped-def]
    data = {"email": email, "password1": "a-long-unusual-pass-42", "password2": "a-long-unusual-pass-42"}
    return client.post(reverse("account_signup"), data | {"role": "renter"}, REMOTE_ADDR=PEER, **headers)


def test_sign_up_with_malformed_forwarded_headers_creates_the_user_and_its_audit_entry():
    client = Client(raise_request_exception=False)
    response = _signup(client, "fwd@example.test", HTTP_X_FORWARDED_FOR="garbage", HTTP_X_FORWARDED_PORT="x")
    assert response.status_code == 302
    user = User.objects.get(email="fwd@example.test")
    event = DomainEvent.objects.get(verb="user.signed_up")
    assert (event.actor, event.ip, event.target_id) == (user, PEER, str(user.pk))


def _login(client: Client, email: str, password: str, forwarded_for: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("account_login"), {"login": email, "password": password}, HTTP_X_FORWARDED_FOR=forwarded_for
    )


def test_allauth_rate_limits_count_the_resolved_client(renter, settings):
    """Behind a trusted proxy, failures from one client do not lock out another (allauth counted them
    all against the proxy's address); a client cannot choose its bucket by writing the header."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's peer address
    for _ in range(5):
        _login(Client(), "nobody@example.test", "wrong-password", "198.51.100.1")
    refused = _login(Client(), renter.email, PASSWORD, "198.51.100.1")
    assert refused.status_code in (200, 429) and "_auth_user_id" not in refused.client.session
    other = Client()
    assert _login(other, renter.email, PASSWORD, "198.51.100.2").status_code == 302
    assert other.session["_auth_user_id"] == str(renter.pk)


def test_without_trusted_proxies_a_forged_header_does_not_escape_the_rate_limit(renter, settings):
    settings.TRUSTED_PROXIES = []
    for n in range(5):
        _login(Client(), "nobody@example.test", "wrong-password", f"198.51.100.{n + 1}")
    client = Client()
    _login(client, renter.email, PASSWORD, "198.51.100.99")
    assert "_auth_user_id" not in client.session
