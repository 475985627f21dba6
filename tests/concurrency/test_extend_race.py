"""Extending under races: one renter extends while others buy the slice that follows, each through the
API on a thread of its own (its own PostgreSQL connection). Exactly one claim wins per unit of
capacity after the booking, every loser gets a clear 409 (never a 500), and an independent check over
the rows finds no instant over capacity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
BUYERS = 11


def _run_threads(n: int, work) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - every outcome is inspected by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("smalls", [1, 2])
def test_extension_against_buyers_of_the_following_slice_one_claim_per_unit(smalls):
    owner = factories.owner()
    # Room for ``smalls`` Small claims at once (bandwidth 250 each).
    offer = factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, bandwidth_mbps=250 * smalls
    )
    renter = factories.renter()
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    buyers = [factories.renter() for _ in range(BUYERS)]
    following = factories.slice_id(offer, T10 + 10 * MIN, 600)

    def work(i: int) -> tuple[str, int, dict]:
        if i == 0:
            response = _client(renter).post(f"/api/v1/timeslots/{booking.pk}/extend", {"duration": 600}, format="json")
            return "extend", response.status_code, response.json()
        response = _client(buyers[i - 1]).post(f"/api/v1/timeslots/{following}/request", {}, format="json")
        return "buy", response.status_code, response.json()

    results = _run_threads(BUYERS + 1, work)

    assert all(isinstance(r, tuple) for r in results), results
    assert all(status in (200, 201, 409) for _, status, _ in results), results  # never a 500
    wins = [r for r in results if r[1] in (200, 201)]
    assert len(wins) == smalls, results
    extension = results[0]
    if extension[1] == 409:
        # Refused: the buyers took every unit of capacity after the booking, and the answer says so.
        assert extension[2]["error"] == "extension_unavailable"
        assert extension[2]["longest_seconds"] == 0
        assert Booking.objects.get(pk=booking.pk).ends_at == T10 + 10 * MIN
    else:
        assert Booking.objects.get(pk=booking.pk).ends_at == T10 + 20 * MIN
        assert Booking.objects.get(pk=booking.pk).total_price == 2000
    for _, status, body in results[1:]:
        if status == 409:
            assert body["error"] == "slice_taken"
    claims_after = Booking.objects.filter(
        offering=offer, state="confirmed", starts_at__lt=T10 + 20 * MIN, ends_at__gt=T10 + 10 * MIN
    ).count()
    assert claims_after == smalls
    assert overbooked_offerings() == []


def test_two_renters_extending_into_the_same_room_one_wins():
    owner = factories.owner()
    offer = factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, bandwidth_mbps=500
    )
    renters = [factories.renter() for _ in range(2)]
    bookings = [services.booking_request(actor=r, slice_id=factories.slice_id(offer, T10, 600)) for r in renters]
    # A third renter holds one of the two units after 10:10: the room for one extension is left.
    services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(offer, T10 + 10 * MIN, 600))

    def work(i: int) -> object:
        return services.booking_extend(actor=renters[i], booking_id=bookings[i].pk, seconds=300)

    results = _run_threads(2, work)

    won = [r for r in results if isinstance(r, services.Extension)]
    lost = [r for r in results if not isinstance(r, services.Extension)]
    assert len(won) == 1 and len(lost) == 1, results
    assert getattr(lost[0], "code", None) == "extension_unavailable"
    assert getattr(lost[0], "longest_seconds", None) == 0
    ends = sorted(Booking.objects.get(pk=b.pk).ends_at for b in bookings)
    assert ends == [T10 + 10 * MIN, T10 + 15 * MIN]
    assert overbooked_offerings() == []


def test_the_database_backstop_refusal_is_the_same_409_never_a_500(monkeypatch):
    """Were the check under the lock ever wrong (here it is made to say the room is free once), the
    capacity trigger refuses the moved end at commit, and the renter gets the same 409 with the
    longest extension that fits, not a 500; nothing changes."""
    from scheduling.services import extension

    owner = factories.owner()
    offer = factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, bandwidth_mbps=250
    )
    renter = factories.renter()
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    services.booking_request(actor=factories.renter(), slice_id=factories.slice_id(offer, T10 + 13 * MIN, 600))
    real, lied = extension._room, []

    def room_once_wrong(offering, booking, want, capacity):  # type: ignore[no-untyped-def]
        if not lied:
            lied.append(want)
            return want
        return real(offering, booking, want, capacity)

    monkeypatch.setattr(extension, "_room", room_once_wrong)
    response = _client(renter).post(f"/api/v1/timeslots/{booking.pk}/extend", {"duration": 600}, format="json")

    assert lied == [600]  # the Python check was skipped: the database refused it
    assert response.status_code == 409, response.content
    body = response.json()
    assert (body["error"], body["longest_seconds"]) == ("extension_unavailable", 180)
    row = Booking.objects.get(pk=booking.pk)
    assert (row.ends_at, row.total_price) == (T10 + 10 * MIN, 1000)
    assert overbooked_offerings() == []
