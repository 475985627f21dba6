"""The Python client's webhook methods against a live server: create an endpoint (its secret once),
list, get, update, a booking's event delivered to a local receiver and signed with that secret
(verified with slicemarket.verify_signature), the delivery log, redeliver, rotate the secret (the
next delivery verifies with the new one only), delete; another user's endpoint is NotFound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slicemarket import BadRequest, Client, NotFound, SignatureError, WebhookDelivery, WebhookEndpoint, verify_signature

from accounts.services import api_token_create
from tests import factories
from tests.webhooks.conftest import receiver  # noqa: F401 - the local server the endpoint delivers to
from webhooks import delivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_hooks(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_ALLOW_HTTP = True


def _client(live_server, user) -> Client:  # type: ignore[no-untyped-def]
    _, token = api_token_create(actor=user, name="webhook client tests")
    return Client(live_server.url, token=token, timeout=10, retries=1)


@pytest.mark.usefixtures("local_hooks")
def test_the_endpoint_lifecycle_through_the_client(live_server, receiver):  # type: ignore[no-untyped-def]  # noqa: F811
    owner = factories.owner()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    renter = factories.renter()
    factories.fund_renter(renter, 1_000_000)
    c = _client(live_server, renter)

    created = c.create_webhook_endpoint(receiver.url, ["booking.confirmed"], description="ops")
    assert isinstance(created, WebhookEndpoint)
    assert created.url == receiver.url and created.event_types == ["booking.confirmed"] and created.is_active
    assert created.secret and created.secret.startswith("whsec_")
    got = c.webhook_endpoint(created.id)
    assert (got.id, got.description, got.secret) == (created.id, "ops", None)  # the secret is shown once
    assert [e.id for e in c.webhook_endpoints(limit=1)] == [created.id]

    updated = c.update_webhook_endpoint(created.id, description="on call", event_types=["booking.confirmed"])
    assert updated.description == "on call" and c.webhook_endpoint(created.id).description == "on call"
    with pytest.raises(BadRequest) as bad:
        c.update_webhook_endpoint(created.id, event_types=["no.such.event"])
    assert bad.value.code == "invalid" and "event_types" in (bad.value.fields or {})

    # A booking's confirmation is delivered to the receiver, signed with the endpoint's secret.
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    booking = c.request(factories.slice_id(offer, start, 300))
    deliveries = list(c.webhook_deliveries(created.id))
    assert [(d.event_type, d.booking_id, d.state) for d in deliveries] == [("booking.confirmed", booking.id, "pending")]
    delivery.deliver_endpoint(created.id)  # what the worker does
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    verify_signature(created.secret, sent.headers["slicemarket-signature"], sent.body)
    first = c.webhook_delivery(created.id, deliveries[0].id)
    assert isinstance(first, WebhookDelivery)
    assert first.state == "delivered" and first.body == sent.body.decode()
    assert first.attempt_log and first.attempt_log[0]["status_code"] == 200

    # Redeliver: a new delivery of the same event; after a rotation it is signed with the new secret only.
    rotated = c.rotate_webhook_secret(created.id)
    assert rotated.secret and rotated.secret != created.secret
    again = c.redeliver_webhook(created.id, first.id)
    assert again.id != first.id and again.event_id == first.event_id and again.manual
    delivery.deliver_endpoint(created.id)
    resent = receiver.requests[-1]
    verify_signature(rotated.secret, resent.headers["slicemarket-signature"], resent.body)
    with pytest.raises(SignatureError):
        verify_signature(created.secret, resent.headers["slicemarket-signature"], resent.body)
    assert [d.id for d in c.webhook_deliveries(created.id, limit=1)] == [again.id, first.id]  # newest first, 2 pages

    # Someone else's endpoint does not exist for them; deleting makes it gone for its owner too.
    stranger = _client(live_server, factories.renter())
    with pytest.raises(NotFound):
        stranger.webhook_endpoint(created.id)
    with pytest.raises(NotFound):
        stranger.delete_webhook_endpoint(created.id)
    assert c.delete_webhook_endpoint(created.id) is None
    with pytest.raises(NotFound):
        c.webhook_endpoint(created.id)
    assert list(c.webhook_endpoints()) == []


def test_an_endpoint_must_be_a_public_https_url(live_server):  # type: ignore[no-untyped-def]
    c = _client(live_server, factories.renter())
    with pytest.raises(BadRequest) as bad:
        c.create_webhook_endpoint("http://127.0.0.1:9/hooks", ["booking.confirmed"])
    assert "url" in (bad.value.fields or {})
    assert list(c.webhook_endpoints()) == []
