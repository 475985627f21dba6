"""What every provisioning service shares: its settings, the booking move, the lease on a Server row.

Every cloud action follows the same three steps: record the intent and take a
lease on the Server row (one short transaction, committed), call the cloud
(outside any transaction), record the outcome (one short transaction). A
worker that dies between the steps leaves a leased row; once the lease
expires the next sweep finishes or undoes the work.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, InvalidTransition
from provisioning.drivers import CloudError
from provisioning.models import Server
from scheduling import services as engine
from scheduling.models import Booking, BookingState

log = logging.getLogger(__name__)
B = BookingState

LAUNCHABLE = (B.CONFIRMED, B.PROVISIONING)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lead_seconds() -> int:
    return _setting("PROVISIONING_LEAD_SECONDS", 60)


def active_timeout() -> int:
    return _setting("PROVISIONING_ACTIVE_TIMEOUT_SECONDS", 300)


def lease_seconds() -> int:
    return active_timeout() + _setting("PROVISIONING_LEASE_MARGIN_SECONDS", 60)


def _move_booking(booking_id: int, to: str, *, reason: str = "", actor: Any = None) -> bool:
    """Ask the engine to move the booking; False if it is already elsewhere (another worker, the renter)."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.state == to:
            return False
        try:
            engine.booking_transition(actor=actor, booking=booking, to=to, reason=reason)
        except (InvalidTransition, ConflictError) as exc:
            log.info("booking %s not moved to %s: %s", booking_id, to, exc)
            return False
    return True


SERVER_CAPACITY = "provisioning_server_within_capacity"


def claim_server(server: Server) -> bool:
    """Save a new Server row, its physical claim on the offering; False when the cloud has no room.

    The database refuses a row that would make the offering's live servers need more than its
    capacity (provisioning/sql/server_capacity.sql); the refusal is undone in a savepoint, so the
    caller's transaction goes on.
    """
    try:
        with transaction.atomic():
            server.save()
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != SERVER_CAPACITY:
            raise
        server.pk = None
        return False
    return True


def _take_lease(server: Server, *, now: datetime, state: str | None = None) -> str | None:
    """Lease the row for a cloud action (conditional UPDATE): the token, or None if someone else holds it."""
    token = uuid.uuid4().hex
    values: dict[str, Any] = {
        "lease_until": now + timedelta(seconds=lease_seconds()),
        "lease_token": token,
        "updated_at": now,
    }
    if state:
        values["state"] = state
    won = (
        Server.objects.filter(pk=server.pk, state=server.state)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(**values)
    )
    if not won:
        return None
    for k, v in values.items():
        setattr(server, k, v)
    return token


def _update_if_leased(server: Server, token: str, **values: Any) -> bool:
    values.setdefault("updated_at", clock.now())
    won = Server.objects.filter(pk=server.pk, lease_token=token).update(**values)
    for k, v in values.items():
        setattr(server, k, v)
    return bool(won)


def _readable_failure(exc: CloudError | None, fault: str = "") -> str:
    text = (exc.message if exc else fault) or "the cloud reported an error"
    lowered = text.lower()
    if "no valid host" in lowered or "novalidhost" in lowered or (exc is not None and exc.capacity):
        if "quota" in lowered:
            return (
                "The owner's cloud refused the server: its quota is used up. "
                "The booking was cancelled and will be refunded."
            )
        return (
            "The owner's cloud has no room for this server right now (no valid host). "
            "The booking was cancelled and will be refunded."
        )
    return f"The server could not be started: {text}. The booking was cancelled and will be refunded."[:300]
