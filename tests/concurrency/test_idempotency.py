"""Idempotency-Key under real concurrency: duplicates sent at once buy once.

Each thread has its own PostgreSQL connection, as separate server processes would. The first request
claims the key (a committed row) before it acts; a duplicate arriving meanwhile is answered 409 "in
progress" (as Stripe does); one arriving afterwards gets the first answer replayed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.concurrency.test_no_overbooking import _run_threads

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _client(user) -> APIClient:  # type: ignore[no-untyped-def]
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def offer():  # type: ignore[no-untyped-def]
    return factories.offering(factories.owner(), publish=True, pricing={"model": "fixed", "price_per_unit": 10})


def test_twenty_duplicates_at_once_buy_once_and_all_answers_name_that_booking(offer):
    renter = factories.renter()
    url = f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request"

    def post(_i: int) -> Any:
        return _client(renter).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="buy-once")

    results = _run_threads(20, post)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Booking.objects.filter(renter=renter).count() == 1
    booking = Booking.objects.get(renter=renter)
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in results if r.status_code == 201]
    assert [r.json()["id"] for r in created] == [booking.pk] * len(created)
    # Exactly one answer was the act itself; any other 201 is the same answer replayed.
    assert sum(1 for r in created if "Idempotent-Replayed" not in r) == 1
    for r in results:
        if r.status_code == 409:
            assert r.json()["error"] == "idempotency_in_progress"


def test_a_duplicate_while_the_first_is_in_flight_gets_409_then_the_replay(offer, monkeypatch):
    renter = factories.renter()
    url = f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request"
    entered, go_on = threading.Event(), threading.Event()
    real = services.booking_request

    def slow_booking_request(**kwargs: Any) -> Booking:
        entered.set()
        assert go_on.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(services, "booking_request", slow_booking_request)
    first: dict[str, Any] = {}

    def first_request() -> None:
        try:
            first["response"] = _client(renter).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert entered.wait(30)
    during = _client(renter).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert during.status_code == 409
    assert during.json() == {
        "error": "idempotency_in_progress",
        "detail": "A request with this Idempotency-Key is still being processed; retry shortly.",
    }
    assert Booking.objects.count() == 0  # the duplicate did nothing
    go_on.set()
    thread.join(30)
    assert first["response"].status_code == 201, first["response"].content

    after = _client(renter).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert after.status_code == 201 and after["Idempotent-Replayed"] == "true"
    assert after.json() == first["response"].json()
    assert Booking.objects.count() == 1
