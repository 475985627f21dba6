"""One table of moves: every move it forbids raises InvalidTransition and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import DomainEvent
from marketplace.lib.errors import ConflictError, InvalidTransition
from scheduling import services
from scheduling.models import Booking, BookingState
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ALL = [s.value for s in BookingState]
# The rules, written out: every state -> the states it may become. Not built from services.TRANSITIONS,
# so an edge gained or lost there fails here.
TABLE: dict[str, set[str]] = {
    "requested": {"confirmed", "rejected", "outbid", "released"},
    "confirmed": {"provisioning", "running", "notice", "released", "completed", "failed"},
    "provisioning": {"running", "notice", "released", "completed", "failed"},
    "running": {"notice", "released", "completed", "failed"},
    "notice": {"preempted", "released", "completed", "failed"},
    "rejected": set(),
    "outbid": set(),
    "completed": set(),
    "released": set(),
    "preempted": set(),
    "failed": set(),
}
FORBIDDEN = [(a, b) for a in ALL for b in ALL if b not in TABLE[a]]
ALLOWED = [(a, b) for a in ALL for b in sorted(TABLE[a])]


@pytest.fixture
def booking(owner, renter):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True)
    return services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 60))


def _put(booking: Booking, state: str) -> Booking:
    fields = {"state": state}
    if state == "notice":
        fields["preempt_deadline"] = T10
    Booking.objects.filter(pk=booking.pk).update(**fields)
    booking.refresh_from_db()
    return booking


def test_the_engine_has_exactly_the_written_table():
    assert set(TABLE) == set(ALL)
    assert {state: set(to) for state, to in services.TRANSITIONS.items()} == TABLE


def test_table_covers_every_state_and_final_states_are_final():
    assert set(services.TRANSITIONS) == set(ALL)
    for final in ("rejected", "outbid", "completed", "released", "preempted", "failed"):
        assert services.TRANSITIONS[final] == frozenset()


@pytest.mark.parametrize(("old", "new"), FORBIDDEN)
def test_every_forbidden_move_raises_and_changes_nothing(booking, old, new):
    _put(booking, old)
    events = DomainEvent.objects.count()
    with pytest.raises(InvalidTransition) as exc:
        services.booking_transition(actor=None, booking=booking, to=new)
    assert exc.value.message == f"A booking that is {old} cannot become {new}."
    assert exc.value.status_code == 409
    assert Booking.objects.get(pk=booking.pk).state == old
    assert DomainEvent.objects.count() == events


@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_every_allowed_move_is_applied_and_audited(booking, old, new):
    _put(booking, old)
    extra = {"preempt_deadline": T10} if new == "notice" else {}
    services.booking_transition(actor=None, booking=booking, to=new, reason="test", **extra)
    assert Booking.objects.get(pk=booking.pk).state == new
    event = DomainEvent.objects.filter(verb=f"booking.{new}", target_id=str(booking.pk)).latest("id")
    assert event.data["from"] == old and event.data["to"] == new


def test_a_stale_copy_loses_the_race_with_a_clear_error(booking):
    stale = Booking.objects.get(pk=booking.pk)
    services.booking_transition(actor=None, booking=booking, to="provisioning")
    with pytest.raises(ConflictError) as exc:
        services.booking_transition(actor=None, booking=stale, to="released")
    assert "changed meanwhile (it is now provisioning)" in exc.value.message
    assert Booking.objects.get(pk=booking.pk).state == "provisioning"
