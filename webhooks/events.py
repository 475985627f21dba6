"""The outbox writers: the engine's and billing's in-transaction hooks turned into Event rows.

Each receiver runs inside the transaction of the change it reports (scheduling.hooks.booking_events,
billing.hooks.billing_event): the Event and its Deliveries commit or roll back with the change.
Deliveries are made only for the user's active endpoints that subscribed to the type; the delivery
task is sent after commit (webhooks.delivery; the sweep finds anything a lost message missed).

A receiver must never break the market: it costs one query when nobody listens, and its writes run
in a savepoint whose error is logged and swallowed (the change goes on; that one event is lost, and
the log says which).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from billing import hooks as billing_hooks
from marketplace.lib import clock, enqueue
from scheduling import hooks as engine_hooks
from scheduling.models import Booking, BookingState
from webhooks.models import Delivery, Endpoint, Event, EventType

log = logging.getLogger(__name__)
S = BookingState
T = EventType
DELIVER_TASK = "webhooks.deliver_endpoint"
ENDED = {S.COMPLETED, S.RELEASED, S.PREEMPTED, S.FAILED}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _types_of(e: engine_hooks.BookingEvent) -> list[str]:
    """The webhook event types one engine change is (an auction win is two: bid.won, booking.confirmed)."""
    if e.kind in ("bid_placed", "bid_raised"):
        return [T.BID_PLACED]
    if e.kind == "extended":
        return [T.BOOKING_EXTENDED]
    to = e.to_state
    if to == S.CONFIRMED:
        return [T.BID_WON, T.BOOKING_CONFIRMED] if "clearing_price" in e.data else [T.BOOKING_CONFIRMED]
    if to == S.OUTBID:
        return [T.BID_OUTBID]
    if to in ENDED:
        return [T.BOOKING_ENDED]
    simple: dict[str, str] = {
        S.REJECTED: T.BOOKING_REJECTED,
        S.PROVISIONING: T.BOOKING_PROVISIONING,
        S.RUNNING: T.BOOKING_RUNNING,
        S.NOTICE: T.BOOKING_NOTICE,
    }
    return [simple[to]] if to in simple else []


def booking_data(booking: Booking) -> dict[str, Any]:
    """The booking as an event shows it (the API's words; minor units)."""
    return {
        "id": booking.pk,
        "state": booking.state,
        "offering": booking.offering_id,
        "profile": booking.profile.name,
        "pricing_model": booking.pricing_model,
        "starts_at": _iso(booking.starts_at),
        "ends_at": _iso(booking.ends_at),
        "currency": booking.currency,
        "unit_price": booking.unit_price,
        "total_price": booking.total_price,
        "bid_amount": booking.bid_amount,
        "reason": booking.reason,
        "preempt_deadline": _iso(booking.preempt_deadline),
    }


def _final_charge(booking: Booking, outcome: str) -> dict[str, Any] | None:
    """What billing charges for the ended booking (its own computation, read only), if billing is there."""
    end = booking.ended_at or clock.now()
    preview = engine_hooks.charge_preview(booking, end, outcome)
    if preview is None:
        return None
    return {
        "amount": preview.amount,
        "currency": preview.currency,
        "refund": preview.refund,
        "settled": preview.settled,
    }


def _body(event_id: str, type_: str, at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"id": event_id, "type": type_, "created": _iso(at), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        sort_keys=True,
    )


def _by_user(endpoints: Iterable[Endpoint]) -> dict[int, list[Endpoint]]:
    found: dict[int, list[Endpoint]] = {}
    for ep in endpoints:
        found.setdefault(ep.user_id, []).append(ep)
    return found


def _subscribers(user_ids: Iterable[int]) -> dict[int, list[Endpoint]]:
    return _by_user(Endpoint.objects.filter(user_id__in=set(user_ids), is_active=True).order_by("id"))


Item = tuple[int, str, int | None, datetime, dict[str, Any]]


def write(items: Sequence[Item], endpoints: dict[int, list[Endpoint]] | None = None) -> list[Event]:
    """Outbox rows for (user, type, booking, at, data) items, one Delivery per subscribed active
    endpoint (``endpoints``: already found, by user); the delivery tasks are sent after commit.
    Items nobody subscribed to write nothing."""
    if endpoints is None:
        endpoints = _subscribers(user for user, *_ in items)
    events: list[Event] = []
    deliveries: list[tuple[Event, Endpoint]] = []
    for user_id, type_, booking_id, at, data in items:
        wanted = [ep for ep in endpoints.get(user_id, ()) if type_ in ep.event_types]
        if not wanted:
            continue
        event = Event(user_id=user_id, type=type_, booking_id=booking_id, created_at=at)
        event.body = _body(str(event.event_id), type_, at, data)
        events.append(event)
        deliveries.extend((event, ep) for ep in wanted)
    if not events:
        return []
    Event.objects.bulk_create(events)
    now = clock.now()
    Delivery.objects.bulk_create(
        Delivery(endpoint=ep, event=ev, booking_id=ev.booking_id, next_attempt_at=now, created_at=now)
        for ev, ep in deliveries
    )
    for endpoint_id in sorted({ep.pk for _, ep in deliveries}):
        enqueue.send_on_commit(DELIVER_TASK, endpoint_id)
    return events


def on_booking_events(events: Sequence[engine_hooks.BookingEvent]) -> None:
    wanted = [(e, types) for e in events if (types := _types_of(e))]
    if not wanted:
        return
    ids = {e.booking_id for e, _ in wanted}
    # One query when nobody listens (the common case, inside the market's hottest transactions).
    listening = list(
        Endpoint.objects.filter(
            is_active=True,
            event_types__overlap=sorted({t for _, types in wanted for t in types}),
            user_id__in=Booking.objects.filter(pk__in=ids).values("renter_id"),
        ).order_by("id")
    )
    if not listening:
        return
    try:
        with transaction.atomic():  # a savepoint: an outbox error never breaks the market
            _write_booking_events(wanted, _by_user(listening))
    except Exception:
        log.exception("webhooks: could not write the outbox for bookings %s", sorted(ids))


def _write_booking_events(
    wanted: list[tuple[engine_hooks.BookingEvent, list[str]]], endpoints: dict[int, list[Endpoint]]
) -> None:
    bookings = Booking.objects.select_related("profile").in_bulk({e.booking_id for e, _ in wanted})
    items: list[Item] = []
    for e, types in wanted:
        booking = bookings.get(e.booking_id)
        if booking is None:
            continue
        data: dict[str, Any] = {"booking": booking_data(booking), "previous_state": e.from_state or None}
        if e.reason:
            data["reason"] = e.reason
        data.update({k: (_iso(v) if isinstance(v, datetime) else v) for k, v in e.data.items()})
        if e.to_state in ENDED and e.kind == "transition":
            data["outcome"] = e.to_state
            data["charge"] = _final_charge(booking, e.to_state)
        items.extend((booking.renter_id, t, booking.pk, e.at, data) for t in types)
    write(items, endpoints)


_BILLING_TYPES = {
    "charge_computed": T.BOOKING_CHARGED,
    "payment_failed": T.PAYMENT_FAILED,
    "payout_paid": T.PAYOUT_PAID,
    "balance_low": T.BALANCE_LOW,
}


def on_billing_event(event: billing_hooks.BillingEvent) -> None:
    type_ = _BILLING_TYPES.get(event.kind)
    if type_ is None:
        return
    endpoints = _subscribers([event.user_id])
    if not endpoints:
        return
    data: dict[str, Any] = dict(event.data)
    if event.booking_id is not None:
        data["booking"] = event.booking_id
    try:
        with transaction.atomic():  # a savepoint: an outbox error never breaks billing
            write([(event.user_id, type_, event.booking_id, event.at, data)], endpoints)
    except Exception:
        log.exception("webhooks: could not write the outbox for %s of user %s", event.kind, event.user_id)


def register() -> None:
    """Called from WebhooksConfig.ready(): the in-transaction receivers."""
    engine_hooks.register("booking_events", on_booking_events)
    billing_hooks.on_billing_event(on_billing_event)
