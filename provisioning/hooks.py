"""Provisioning's reactions to the market engine (registered in ProvisioningConfig.ready()).

The engine fires these after commit. They only enqueue work: the beat sweeps
find the same work by state and time, so a lost message costs a sweep
interval, never a booking.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task

from marketplace.lib import clock, enqueue
from provisioning import selectors, services, tasks
from provisioning.models import LIVE_STATES, Server
from scheduling import hooks
from scheduling.models import Booking


def _enqueue(task: Task, *args: Any) -> None:
    enqueue.send(task.name, *args)


def booking_confirmed(booking_id: int) -> None:
    """Launch at once when the slice starts within the lead time; later ones wait for the launch sweep."""
    starts_at = Booking.objects.filter(pk=booking_id).values_list("starts_at", flat=True).first()
    if starts_at is not None and starts_at <= clock.now() + timedelta(seconds=services.lead_seconds()):
        _enqueue(tasks.launch_booking, booking_id)


def booking_ended(booking_id: int, reason: str = "") -> None:
    """Released, preempted, completed or failed: reclaim the booking's server.

    The reclaim (services.booking_reclaim) hands a completed booking's server to
    the renter's next adjacent slice instead, when there is one.
    """
    if Server.objects.filter(booking_id=booking_id, state__in=LIVE_STATES).exists():
        _enqueue(tasks.reclaim_booking, booking_id, f"booking {reason}")


def register() -> None:
    hooks.register("on_booking_confirmed", booking_confirmed)
    hooks.register("on_booking_ended", booking_ended)
    hooks.register("usage_for_booking", selectors.usage_for_booking)
