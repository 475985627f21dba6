"""Portal pages under /account/webhooks/ and the admin: the same services, the secret shown once."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.conftest import login
from tests.webhooks.helpers import buy
from webhooks import delivery, services
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

PAGE = "/account/webhooks/"


def _secret(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'id="new-secret">([^<]+)<', page.content.decode()).group(1)


def test_create_an_endpoint_and_see_its_secret_once(renter):
    client = login(renter)
    assert client.get(PAGE).status_code == 200
    page = client.post(PAGE, {"url": "https://hooks.example.com/in", "event_types": ["booking.confirmed", "bid.won"]})
    assert page.status_code == 200
    secret = _secret(page)
    ep = Endpoint.objects.get(user=renter)
    assert services.endpoint_secret(ep) == secret and ep.event_types == ["bid.won", "booking.confirmed"]
    again = client.get(PAGE).content.decode()
    assert secret not in again and "https://hooks.example.com/in" in again


def test_a_refused_url_is_a_form_error(renter):
    page = login(renter).post(PAGE, {"url": "https://192.168.0.10/hook", "event_types": ["booking.confirmed"]})
    assert page.status_code == 200
    assert "public internet" in page.content.decode()
    assert not Endpoint.objects.exists()


def test_delivery_log_redeliver_toggle_rotate_delete(owner, renter, receiver, allow_local):
    ep, first_secret = services.endpoint_create(actor=renter, url=receiver.url, event_types=["booking.confirmed"])
    buy(renter, factories.offering(owner, publish=True))
    receiver.answer = lambda r: 418
    delivery.deliver_endpoint(ep.pk)
    client = login(renter)
    page = client.get(f"{PAGE}{ep.pk}/").content.decode()
    assert "booking.confirmed" in page and "HTTP 418" in page and "answer 418" in page
    d = Delivery.objects.get()
    Delivery.objects.filter(pk=d.pk).update(state="failed")
    receiver.answer = lambda r: 200
    assert client.post(f"{PAGE}{ep.pk}/deliveries/{d.pk}/redeliver").status_code == 302
    assert Delivery.objects.filter(manual=True).count() == 1
    assert client.post(f"{PAGE}{ep.pk}/toggle").status_code == 302
    assert not Endpoint.objects.get(pk=ep.pk).is_active
    rotated = client.post(f"{PAGE}{ep.pk}/rotate")
    new_secret = _secret(rotated)
    assert new_secret != first_secret and services.endpoint_secret(Endpoint.objects.get(pk=ep.pk)) == new_secret
    assert client.post(f"{PAGE}{ep.pk}/delete").status_code == 302
    assert not Endpoint.objects.exists()


def test_another_users_pages_are_404(renter):
    other = factories.renter()
    ep, _ = services.endpoint_create(actor=other, url="https://hooks.example.com/in", event_types=["bid.won"])
    client = login(renter)
    assert client.get(f"{PAGE}{ep.pk}/").status_code == 404
    for action in ("toggle", "rotate", "delete"):
        assert client.post(f"{PAGE}{ep.pk}/{action}").status_code == 404
    ep.refresh_from_db()
    assert ep.is_active


def test_anonymous_is_sent_to_sign_in(db):
    from django.test import Client

    answer = Client().get(PAGE)
    assert answer.status_code == 302 and "login" in answer["Location"]


def test_admin_lists_endpoints_without_their_secret(staff, renter):
    ep, secret = services.endpoint_create(actor=renter, url="https://hooks.example.com/in", event_types=["bid.won"])
    client = login(staff)
    for path in (
        "/admin/webhooks/endpoint/",
        f"/admin/webhooks/endpoint/{ep.pk}/change/",
        "/admin/webhooks/delivery/",
        "/admin/webhooks/event/",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert secret not in answer.content.decode() and ep.secret_encrypted not in answer.content.decode()
