"""Two delivery runs of one endpoint at once (real threads, their own connections): every event is
sent once, and each booking's events arrive in order."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from marketplace.lib import clock
from webhooks import delivery, events, services
from webhooks.models import Delivery

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_concurrent_runs_send_each_event_once_in_order_per_booking(renter, receiver, allow_local, monkeypatch):
    from marketplace.lib import enqueue

    monkeypatch.setattr(enqueue, "send", lambda *a, **k: None)  # no broker: the two runs below are the workers
    ep, _ = services.endpoint_create(actor=renter, url=receiver.url, event_types=["booking.running"])
    with transaction.atomic():
        events.write(
            [
                (renter.pk, "booking.running", booking, clock.now(), {"booking": {"id": booking}, "n": n})
                for n in range(4)
                for booking in (101, 202, 303)
            ]
        )

    def slow(r):  # type: ignore[no-untyped-def]
        time.sleep(0.02)  # long enough for the other run to look for work meanwhile
        return 200

    receiver.answer = slow
    errors: list[BaseException] = []
    counts: list[int] = []

    def run() -> None:
        try:
            counts.append(delivery.deliver_endpoint(ep.pk))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(counts)[0] > 0 and sum(counts) == 12  # both runs worked, side by side
    assert Delivery.objects.filter(state="delivered").count() == 12
    sent = [(r.json["data"]["booking"]["id"], r.json["data"]["n"]) for r in receiver.requests]
    assert len(sent) == 12 and len(set(sent)) == 12  # each once
    for booking in (101, 202, 303):
        assert [n for b, n in sent if b == booking] == [0, 1, 2, 3]
