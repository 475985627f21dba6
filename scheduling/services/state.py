"""The booking state machine and the capacity helpers every service uses.

Rules enforced here:

- A booking moves only along ``TRANSITIONS``; final states have no way out.
- Every move is a conditional ``UPDATE ... WHERE id = %s AND state = old``: its row count says
  whether this caller won, so two workers never both move a booking (the loser gets ConflictError).
- Every move is audited in the caller's transaction and told to the in-transaction receivers
  (``hooks.booking_events``: an outbox), and the hooks of the new state (confirmed, notice,
  outbid, ended) fire after commit.
- Capacity is PostgreSQL's to compute (``offering_peak``); the deferred trigger
  ``scheduling_booking_capacity`` refuses any claim that slips past (``is_capacity_violation``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction

from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, InvalidTransition
from marketplace.lib.money import format_minor
from owners.models import SliceProfile
from scheduling import hooks
from scheduling.models import Booking, BookingState
from scheduling.slices import RESOURCES

S = BookingState

# The one table of allowed moves. Final states have no way out.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.CONFIRMED, S.REJECTED, S.OUTBID, S.RELEASED}),
    S.CONFIRMED: frozenset({S.PROVISIONING, S.RUNNING, S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.PROVISIONING: frozenset({S.RUNNING, S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.RUNNING: frozenset({S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.NOTICE: frozenset({S.PREEMPTED, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.REJECTED: frozenset(),
    S.OUTBID: frozenset(),
    S.COMPLETED: frozenset(),
    S.RELEASED: frozenset(),
    S.PREEMPTED: frozenset(),
    S.FAILED: frozenset(),
}
ENDED = (S.RELEASED, S.PREEMPTED, S.COMPLETED, S.FAILED)
CAPACITY_CONSTRAINT = "scheduling_booking_capacity"


# ---- helpers ------------------------------------------------------------------------------------


def is_capacity_violation(exc: BaseException) -> bool:
    """True when a database error is the capacity trigger refusing a claim."""
    cause = getattr(exc, "__cause__", None) or exc
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == CAPACITY_CONSTRAINT


def offering_peak(offering_id: int, start: datetime, end: datetime) -> list[int]:
    """Peak use of each resource by claims on the offering over [start, end), computed by PostgreSQL."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_offering_peak(%s, %s, %s)",
            [offering_id, start, end],
        )
        row = cur.fetchone()
    return [int(v) for v in row]


def _fits(peak: list[int], need: list[int], capacity: dict[str, int]) -> bool:
    return all(peak[i] + need[i] <= capacity[r] for i, r in enumerate(RESOURCES))


def _need(profile: SliceProfile) -> list[int]:
    return [profile.vcpus, profile.ram_mib, profile.disk_gb, profile.bandwidth_mbps]


def _money(amount: int | None, currency: str) -> str:
    return format_minor(int(amount or 0), currency)


def _move(
    booking: Booking,
    to: str,
    *,
    actor: Any,
    reason: str = "",
    now: datetime | None = None,
    verb: str | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Booking:
    """Change a booking's state if the table allows it and nobody changed it first. Caller holds a transaction."""
    old = booking.state
    if to not in TRANSITIONS.get(old, frozenset()):
        raise InvalidTransition(f"A booking that is {old} cannot become {to}.")
    now = now or clock.now()
    values: dict[str, Any] = {"state": to, "updated_at": now, **fields}
    if reason:
        values["reason"] = reason[:300]
    if to == S.CONFIRMED and "confirmed_at" not in values:
        values["confirmed_at"] = now
    if to in ENDED and "ended_at" not in values:
        values["ended_at"] = now
    won = Booking.objects.filter(pk=booking.pk, state=old).update(**values)
    if not won:
        current = Booking.objects.filter(pk=booking.pk).values_list("state", flat=True).first()
        raise ConflictError(f"This booking changed meanwhile (it is now {current}); reload and try again.")
    for key, value in values.items():
        setattr(booking, key, value)
    event = {"from": old, "to": to}
    if reason:
        event["reason"] = reason
    if data:
        event.update(data)
    record_event(actor=actor, verb=verb or f"booking.{to}", target=booking, data=event)
    told = {k: v for k, v in (data or {}).items() if k in ("unit_price", "total_price", "currency")}
    if to == S.NOTICE and booking.preempt_deadline is not None:
        told["deadline"] = booking.preempt_deadline
    hooks.booking_event(booking.pk, "transition", old, to, now, reason=reason, data=told)
    if to == S.CONFIRMED:
        hooks.fire_on_commit("on_booking_confirmed", booking.pk)
    elif to == S.NOTICE:
        hooks.fire_on_commit("on_booking_notice", booking.pk)
    elif to == S.OUTBID:
        hooks.fire_on_commit("on_bid_lost", booking.pk)
    elif to in ENDED:
        hooks.fire_on_commit("on_booking_ended", booking.pk, to)
    return booking


@transaction.atomic
def booking_transition(*, actor: Any, booking: Booking, to: str, reason: str = "", **fields: Any) -> Booking:
    """Move a booking to ``to`` (provisioning, running, completed, failed, ...) if the state machine allows it.

    For provisioning and billing: raises InvalidTransition for a move the table
    forbids and ConflictError if another worker changed the booking first.
    """
    return _move(booking, to, actor=actor, reason=reason, **fields)
