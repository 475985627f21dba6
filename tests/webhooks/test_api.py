"""/api/v1/webhooks: the secret shown once, encrypted at rest; a permission matrix (anonymous 401,
another user's endpoint 404 and unchanged, scopes); JSON 400s; the delivery log; redelivery."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.services import api_token_create
from audit.models import DomainEvent
from tests import factories
from tests.conftest import login
from tests.webhooks.helpers import buy
from webhooks import delivery, services, signing
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhooks/endpoints"
URL = "https://hooks.example.com/in"


def token_client(user, scopes):  # type: ignore[no-untyped-def]
    _, raw = api_token_create(actor=user, name="t", scopes=scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def create(client, **kw):  # type: ignore[no-untyped-def]
    data = {"url": URL, "event_types": ["booking.confirmed", "booking.ended"]} | kw
    return client.post(BASE, data, content_type="application/json")


def test_create_shows_the_secret_once_and_stores_it_encrypted(renter):
    client = login(renter)
    answer = create(client)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert body["event_types"] == ["booking.confirmed", "booking.ended"] and body["is_active"] is True
    ep = Endpoint.objects.get(pk=body["id"])
    assert secret not in ep.secret_encrypted and services.endpoint_secret(ep) == secret
    listed = client.get(BASE).json()
    assert secret not in str(listed) and "secret" not in listed["results"][0]
    assert "secret" not in client.get(f"{BASE}/{ep.pk}").json()
    audit = DomainEvent.objects.filter(verb="webhook.endpoint.created").get()
    assert secret not in str(audit.data)


def test_rotate_gives_a_new_secret_and_the_old_one_no_longer_verifies(renter):
    client = login(renter)
    first = create(client).json()
    rotated = client.post(f"{BASE}/{first['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != first["secret"]
    ep = Endpoint.objects.get(pk=first["id"])
    assert services.endpoint_secret(ep) == new
    header = signing.sign(services.endpoint_secret(ep), b"{}")
    signing.verify(new, header, b"{}")
    with pytest.raises(signing.SignatureError):
        signing.verify(first["secret"], header, b"{}")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"url": "ftp://x.example.com"}, "url", "https"),
        ({"url": "http://hooks.example.com/in"}, "url", "https"),
        ({"url": "https://127.0.0.1/in"}, "url", "public internet"),
        ({"url": "https://169.254.169.254/latest"}, "url", "public internet"),
        ({"url": "https://10.1.2.3/in"}, "url", "public internet"),
        ({"url": "https://[::1]/in"}, "url", "public internet"),
        ({"url": "https://localhost:8000/in"}, "url", "public internet"),
        ({"url": "https://user:pw@hooks.example.com/in"}, "url", "password"),
        ({"event_types": []}, "event_types", "at least one"),
        ({"event_types": ["booking.exploded"]}, "event_types", ""),
        ({"event_types": "booking.confirmed"}, "event_types", ""),
    ],
)
def test_bad_input_is_a_json_400_naming_the_field(renter, data, field, words):
    answer = create(login(renter), **data)
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"].startswith("application/json")
    assert words in str(answer.json())
    assert field in str(answer.json())
    assert not Endpoint.objects.exists()


def test_private_addresses_are_allowed_only_by_the_operator_setting(renter, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert create(login(renter), url="https://10.1.2.3/in").status_code == 201
    assert create(login(renter), url="https://192.168.1.1/in").status_code == 400


def test_anonymous_is_401(db):
    assert Client().get(BASE).status_code == 401
    assert Client().post(BASE, {}, content_type="application/json").status_code == 401


def test_another_users_endpoint_is_a_404_and_stays_unchanged(renter):
    other = factories.renter()
    ep, secret = services.endpoint_create(actor=other, url=URL, event_types=["booking.confirmed"])
    d = Delivery.objects.create(endpoint=ep, event=_event(other), state="delivered")
    client = login(renter)
    for method, path in [
        ("get", f"{BASE}/{ep.pk}"),
        ("patch", f"{BASE}/{ep.pk}"),
        ("delete", f"{BASE}/{ep.pk}"),
        ("post", f"{BASE}/{ep.pk}/rotate-secret"),
        ("get", f"{BASE}/{ep.pk}/deliveries"),
        ("get", f"{BASE}/{ep.pk}/deliveries/{d.pk}"),
        ("post", f"{BASE}/{ep.pk}/deliveries/{d.pk}/redeliver"),
    ]:
        answer = getattr(client, method)(path, {"url": "https://evil.example.com"}, content_type="application/json")
        assert answer.status_code == 404, (method, path, answer.content)
        assert answer.json()["error"] == "not_found"
    assert client.get(BASE).json()["results"] == []
    ep.refresh_from_db()
    assert ep.url == URL and services.endpoint_secret(ep) == secret
    assert Delivery.objects.count() == 1
    # A delivery of one's own endpoint under another endpoint's id is not found either.
    mine, _ = services.endpoint_create(actor=renter, url=URL, event_types=["booking.confirmed"])
    assert client.get(f"{BASE}/{mine.pk}/deliveries/{d.pk}").status_code == 404


def _event(user):  # type: ignore[no-untyped-def]
    from webhooks.models import Event

    return Event.objects.create(user=user, type="booking.confirmed", body='{"id":"x"}')


def test_token_scopes_read_lists_market_manages(renter):
    services.endpoint_create(actor=renter, url=URL, event_types=["booking.confirmed"])
    reader = token_client(renter, ["read"])
    assert reader.get(BASE).status_code == 200
    refused = create(reader)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert create(token_client(renter, ["billing"])).status_code == 403
    assert create(token_client(renter, ["read", "market"])).status_code == 201
    assert Endpoint.objects.count() == 2


def test_patch_changes_and_turning_on_clears_failures(renter):
    client = login(renter)
    ep_id = create(client).json()["id"]
    Endpoint.objects.filter(pk=ep_id).update(is_active=False, consecutive_failures=15, disabled_reason="failed")
    answer = client.patch(
        f"{BASE}/{ep_id}", {"is_active": True, "event_types": ["bid.won"]}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["is_active"] is True and body["consecutive_failures"] == 0 and body["event_types"] == ["bid.won"]
    assert (
        client.patch(f"{BASE}/{ep_id}", {"url": "https://10.0.0.1/"}, content_type="application/json").status_code
        == 400
    )
    assert Endpoint.objects.get(pk=ep_id).url == URL
    assert client.delete(f"{BASE}/{ep_id}").status_code == 204
    assert not Endpoint.objects.exists()


def test_the_delivery_log_and_a_manual_redelivery(renter, owner, receiver, allow_local):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    client = login(renter)
    ep_id = create(client, url=receiver.url).json()["id"]
    buy(renter, offer)
    answers = iter([500])
    receiver.answer = lambda r: next(answers, 200)
    delivery.deliver_endpoint(ep_id)
    log = client.get(f"{BASE}/{ep_id}/deliveries").json()
    [d] = log["results"]
    assert d["state"] == "pending" and d["attempts"] == 1 and d["event_type"] == "booking.confirmed"
    [attempt] = d["attempt_log"]
    assert attempt["status_code"] == 500 and attempt["succeeded"] is False and attempt["response_body"] == "answer 500"
    # The user asks for it again now, without waiting for the backoff: same event id, a new delivery.
    again = client.post(f"{BASE}/{ep_id}/deliveries/{d['id']}/redeliver")
    assert again.status_code == 202, again.content
    assert again.json()["event_id"] == d["event_id"] and again.json()["manual"] is True
    assert delivery.deliver_endpoint(ep_id) == 1
    ids = [r.headers["slicemarket-event-id"] for r in receiver.requests]
    assert ids == [d["event_id"], d["event_id"]]
    detail = client.get(f"{BASE}/{ep_id}/deliveries/{again.json()['id']}").json()
    assert detail["state"] == "delivered" and detail["body"] == receiver.requests[-1].body.decode()
    assert DomainEvent.objects.filter(verb="webhook.delivery.redelivered").count() == 1


def test_redelivery_to_a_turned_off_endpoint_is_a_409(renter):
    ep, _ = services.endpoint_create(actor=renter, url=URL, event_types=["booking.confirmed"])
    d = Delivery.objects.create(endpoint=ep, event=_event(renter), state="delivered")
    services.endpoint_update(actor=renter, endpoint=ep, is_active=False)
    answer = login(renter).post(f"{BASE}/{ep.pk}/deliveries/{d.pk}/redeliver")
    assert answer.status_code == 409 and "turned off" in answer.json()["detail"]
