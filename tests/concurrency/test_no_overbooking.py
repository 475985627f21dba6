"""No overbooking under real concurrency: many threads, each with its own PostgreSQL connection.

The offering fits four Small slices at once (bandwidth 1000 / 250). Every
request that loses gets a clear 409 (SliceTaken), and afterwards an
independent check over the rows finds no instant over capacity.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from scheduling import services
from scheduling.errors import SliceTaken
from scheduling.models import Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
THREADS = 40


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


def _small_hour(offer, profile) -> dict:  # type: ignore[no-untyped-def]
    """A Small claim on ``offer`` for T10-T11, as raw row fields (for writes that bypass the engine)."""
    return {
        "offering": offer,
        "profile": profile,
        "pricing_model": "fixed",
        "starts_at": T10,
        "ends_at": T10 + timedelta(hours=1),
        "vcpus": 1,
        "ram_mib": 2048,
        "disk_gb": 20,
        "bandwidth_mbps": 250,
        "grid_seconds": 60,
        "currency": "USD",
    }


@pytest.fixture
def setup():  # type: ignore[no-untyped-def]
    owner = factories.owner()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10})
    renters = [factories.renter() for _ in range(THREADS)]
    return offer, renters


def test_same_slice_40_clients_exactly_capacity_wins_and_every_loser_gets_409(setup):
    offer, renters = setup
    sid = factories.slice_id(offer, T10, 600)

    results = _run_threads(THREADS, lambda i: services.booking_request(actor=renters[i], slice_id=sid))

    wins = [r for r in results if isinstance(r, Booking)]
    losses = [r for r in results if isinstance(r, SliceTaken)]
    assert len(wins) == 4, {type(r).__name__: str(r)[:300] for r in results}
    assert len(losses) == THREADS - 4, [r for r in results if not isinstance(r, (Booking, SliceTaken))]
    assert all(e.status_code == 409 and "just taken" in e.message for e in losses)
    assert Booking.objects.filter(state="confirmed").count() == 4
    assert Booking.objects.filter(state="rejected").count() == THREADS - 4  # losers stay visible
    assert overbooked_offerings() == []


def test_overlapping_random_slices_through_the_api_never_exceed_capacity(setup):
    offer, renters = setup
    rng = random.Random(7)
    plans = [(rng.randrange(0, 30), rng.choice([60, 120, 300, 600])) for _ in range(THREADS)]

    def work(i: int) -> int:
        minute, length = plans[i]
        client = APIClient()
        client.force_authenticate(renters[i])
        sid = factories.slice_id(offer, T10 + timedelta(minutes=minute), length)
        response = client.post(f"/api/v1/timeslots/{sid}/request", {}, format="json")
        assert response.status_code in (201, 409), response.content
        if response.status_code == 409:
            assert response.json()["error"] == "slice_taken"
        return response.status_code

    results = _run_threads(THREADS, work)
    assert all(r in (201, 409) for r in results), results
    assert results.count(201) == Booking.objects.filter(state="confirmed").count()
    assert results.count(201) >= 4
    assert results.count(409) >= 1
    assert overbooked_offerings() == []


def test_the_database_refuses_an_overbooking_even_without_the_python_check(setup):
    """Bypass the services: two transactions insert confirmed claims directly; the deferred trigger
    locks the offering at commit and the second one sees the first one's rows and is refused."""
    offer, renters = setup
    profile = offer.pricing_policies.get().profile

    def claim(i: int) -> str:
        try:
            with transaction.atomic():
                for k in range(3):  # 3 Smalls each: together 6 > 4
                    Booking.objects.create(
                        renter=renters[i],
                        offering=offer,
                        profile=profile,
                        pricing_model="fixed",
                        state="confirmed",
                        starts_at=T10 + timedelta(minutes=k),
                        ends_at=T10 + timedelta(hours=1),
                        vcpus=1,
                        ram_mib=2048,
                        disk_gb=20,
                        bandwidth_mbps=250,
                        grid_seconds=60,
                        currency="USD",
                    )
                barrier.wait(timeout=30)  # both have inserted, neither has committed
            return "committed"
        except IntegrityError as exc:
            assert services.is_capacity_violation(exc)
            assert "would be over capacity" in str(exc)
            return "refused"

    barrier = threading.Barrier(2)
    results = _run_threads(2, claim)
    assert sorted(results) == ["committed", "refused"]
    assert Booking.objects.filter(state="confirmed").count() == 3
    assert overbooked_offerings() == []


def test_the_trigger_also_refuses_a_single_transaction_and_a_state_change(setup):
    offer, renters = setup
    profile = offer.pricing_policies.get().profile
    fields = _small_hour(offer, profile)
    with pytest.raises(IntegrityError), transaction.atomic():
        for i in range(5):
            Booking.objects.create(renter=renters[i], state="confirmed", **fields)
    assert Booking.objects.count() == 0
    for i in range(4):
        Booking.objects.create(renter=renters[i], state="confirmed", **fields)
    waiting = Booking.objects.create(renter=renters[5], state="requested", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.filter(pk=waiting.pk).update(state="confirmed")
    assert Booking.objects.get(pk=waiting.pk).state == "requested"
    assert overbooked_offerings() == []


def test_a_claim_added_after_an_engine_booking_in_the_same_transaction_is_still_checked(setup):
    """The booking function tells the deferred trigger it checked its own claim (scheduling/sql/booking_request.sql); a
    claim written afterwards in the same transaction, by any path, must still be checked at commit."""
    offer, renters = setup
    profile = offer.pricing_policies.get().profile
    key = factories.slice_id(offer, T10, 3600)
    with pytest.raises(IntegrityError), transaction.atomic():
        for i in range(4):  # the engine fills the offering (4 Smalls), each checked under the lock
            assert services.booking_request(actor=renters[i], slice_id=key).state == "confirmed"
        with connection.cursor() as cur:
            cur.execute("SELECT current_setting('scheduling.capacity_checked', true)")
            assert f"|{offer.pk}/" in cur.fetchone()[0]  # the engine's claims are marked as checked
        # A fifth claim, bypassing the engine: over capacity.
        Booking.objects.create(renter=renters[4], state="confirmed", **_small_hour(offer, profile))
    assert Booking.objects.count() == 0
    with transaction.atomic():  # the four alone commit
        for i in range(4):
            services.booking_request(actor=renters[i], slice_id=key)
    assert Booking.objects.filter(state="confirmed").count() == 4
    assert overbooked_offerings() == []
