"""A real Celery worker delivers the outbox after commit: the first attempt of event 1 fails, its
retry comes at the backoff's ETA, and event 2 of the same booking only after it (in order)."""

from __future__ import annotations

import pytest
from django.db import transaction

from marketplace.lib import clock
from tests.provisioning.worker import Worker, purge_queue, wait_for
from webhooks import events, services, signing
from webhooks.models import Delivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration, pytest.mark.slow]

WORKER_ENV = {
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "WEBHOOK_ALLOW_HTTP": "1",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "1",
}


def test_a_worker_delivers_in_order_with_a_retry(renter, receiver, allow_local, tmp_path):
    purge_queue()
    ep, secret = services.endpoint_create(
        actor=renter, url=receiver.url, event_types=["booking.confirmed", "booking.running"]
    )
    calls: list[str] = []

    def answer(r):  # type: ignore[no-untyped-def]
        calls.append(r.json["type"])
        return 500 if calls == ["booking.confirmed"] else 200

    receiver.answer = answer
    worker = Worker(env=WORKER_ENV, log=tmp_path / "worker.log").start()
    try:
        with transaction.atomic():
            events.write(
                [
                    (renter.pk, "booking.confirmed", 4242, clock.now(), {"booking": {"id": 4242}}),
                    (renter.pk, "booking.running", 4242, clock.now(), {"booking": {"id": 4242}}),
                ]
            )
            assert receiver.requests == []  # nothing leaves before commit
        wait_for(lambda: Delivery.objects.filter(state="delivered").count() == 2, 30, "both deliveries")
    finally:
        worker.stop()
    assert calls == ["booking.confirmed", "booking.confirmed", "booking.running"]
    for got in receiver.requests:
        # The worker signs with the real clock; this test's clock is frozen: check the HMAC only.
        signing.verify(secret, got.headers["slicemarket-signature"], got.body, tolerance=0)
    first = Delivery.objects.get(event__type="booking.confirmed")
    assert first.attempts == 2 and list(first.attempt_log.order_by("at").values_list("status_code", flat=True)) == [
        500,
        200,
    ]
