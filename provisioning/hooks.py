"""Provisioning's reactions to the market engine (registered in ProvisioningConfig.ready()).

The engine fires these after commit. They only enqueue work: the beat sweeps
find the same work by state and time, so a lost message costs a sweep
interval, never a booking.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from marketplace.lib import enqueue
from provisioning import selectors, services, tasks
from provisioning.models import LIVE_STATES, Server
from scheduling import hooks
from scheduling.models import Booking


def _enqueue(task: Task, *args: Any) -> None:
    enqueue.send(task.name, *args)


def booking_confirmed(booking_id: int) -> None:
    """Schedule the slice's start and end steps at their instants (within the horizon; beat sends later ones)."""
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is not None:
        services.schedule_booking(booking)


def booking_changed(booking_id: int) -> None:
    """A profile change or an extension: the end step moves to the new end at once."""
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is not None:
        services.schedule_booking(booking)


def booking_notice(booking_id: int) -> None:
    """A preemption notice: the end step moves to the deadline."""
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is not None:
        services.schedule_booking(booking)


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
    hooks.register("on_booking_notice", booking_notice)
    hooks.register("on_booking_changed", booking_changed)
    hooks.register("usage_for_booking", selectors.usage_for_booking)
