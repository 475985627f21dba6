"""Property-based: random sequences of request, release, preempt (and the deadline passing) never
overbook; after every step an independent SQL/Python check over the rows finds no instant over capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.lib.errors import DomainError
from scheduling import services
from scheduling.models import Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings
from tests.scheduling.conftest import NOW

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

request_step = st.tuples(
    st.just("request"),
    st.integers(0, 3),
    st.integers(0, 20),
    st.sampled_from([60, 120, 300]),
    st.sampled_from(["Small", "Medium"]),
)
release_step = st.tuples(st.just("release"), st.integers(0, 50))
preempt_step = st.tuples(st.just("preempt"), st.integers(0, 50), st.sampled_from([0, 60]))
tick_step = st.tuples(st.just("tick"))
steps = st.lists(st.one_of(request_step, request_step, release_step, preempt_step, tick_step), min_size=1, max_size=25)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_random_request_release_preempt_sequences_keep_the_invariant(plan):  # type: ignore[no-untyped-def]
    owner = factories.owner()
    # Small-sized capacity for 3 Smalls or 1 Medium + 1 Small (bandwidth 750; Medium needs 500, Small 250).
    offer = factories.offering(owner, publish=True, bandwidth_mbps=750, vcpus=3, ram_mib=8192)
    factories.price(owner, offer, profile="Medium", price_per_unit=20)
    renters = [factories.renter() for _ in range(4)]
    clock = NOW
    mine: list[Booking] = []
    for step in plan:
        with time_machine.travel(clock, tick=False):
            try:
                if step[0] == "request":
                    _, who, minute, length, profile = step
                    sid = factories.slice_id(offer, T10 + timedelta(minutes=minute), length, profile)
                    mine.append(services.booking_request(actor=renters[who], slice_id=sid))
                elif step[0] == "release" and mine:
                    b = mine[step[1] % len(mine)]
                    services.booking_release(actor=b.renter, booking_id=b.pk)
                elif step[0] == "preempt" and mine:
                    b = mine[step[1] % len(mine)]
                    services.booking_preempt(actor=owner, booking=b, notice_seconds=step[2])
                elif step[0] == "tick":
                    clock += timedelta(seconds=61)
                    with time_machine.travel(clock, tick=False):
                        services.preemptions_end_due()
            except DomainError:
                pass  # refused steps (taken, invalid transition) must change nothing; the check below sees
        assert overbooked_offerings() == []
        # The engine's own peak agrees with the independent check.
        peak = services.offering_peak(offer.pk, T10, T10 + timedelta(hours=1))
        assert peak[3] <= 750 and peak[0] <= 3
