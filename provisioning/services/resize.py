"""Changing a running booking's profile: the engine moves the claim, the cloud resizes the server."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record_event
from marketplace.lib import clock, enqueue
from marketplace.lib.errors import ConflictError, InvalidTransition, NotFoundError
from provisioning.drivers import CloudError, driver_for
from provisioning.models import Server, ServerState
from provisioning.services.common import _take_lease, _update_if_leased, active_timeout
from scheduling import services as engine
from scheduling.models import Booking, BookingState

B = BookingState
SS = ServerState


def booking_change_profile(*, actor: Any, booking_id: int, profile_id: int) -> Server:
    """A renter changes a running booking's profile: the engine moves the claim and reprices the rest
    of the booking (scheduling.services.booking_change_profile: its rules, capacity check and audit),
    and the server is leased for the resize that server_resize_run then does and confirms (the
    ``provisioning.resize_server`` task, sent on commit; sweeps.resize_due retries it if that message is lost).
    """
    booking = Booking.objects.filter(pk=booking_id).first()
    if booking is None or booking.renter_id != getattr(actor, "pk", None):
        raise NotFoundError("No such booking.")
    now = clock.now()
    try:
        with transaction.atomic():
            locked = Booking.objects.select_for_update().get(pk=booking.pk)
            if locked.state != B.RUNNING:
                raise InvalidTransition(f"Only a running booking can change profile (this one is {locked.state}).")
            server = Server.objects.select_for_update().filter(booking=locked, state=SS.ACTIVE).first()
            if server is None:
                raise ConflictError("The booking's server is not active; try again in a moment.")
            engine.booking_change_profile(actor=actor, booking_id=locked.pk, profile_id=profile_id)
            token = _take_lease(server, now=now, state=SS.RESIZING)
            if token is None:
                raise ConflictError("The server is busy; try again in a moment.")
            enqueue.send_on_commit("provisioning.resize_server", server.pk)
    except IntegrityError as exc:
        if engine.is_capacity_violation(exc):
            raise ConflictError("The offering has no capacity left for that profile during your slice.") from exc
        raise
    return server


def server_resize_run(*, server_id: int) -> Server:
    """Resize the cloud server to its booking's profile and confirm; on refusal, restore the old profile."""
    server = Server.objects.select_related("booking__profile", "cloud").get(pk=server_id)
    if server.state != SS.RESIZING:
        return server
    token = server.lease_token
    booking = server.booking
    assert booking is not None  # only a booking's server is resized
    driver = driver_for(server.cloud)
    flavor = booking.profile.flavor_name
    try:
        flavor_id = driver.ensure_flavor(
            name=flavor, vcpus=booking.vcpus, ram_mib=booking.ram_mib, disk_gb=booking.disk_gb
        )
        current = driver.get_server(server.external_id or "")
        if current is not None and current.flavor_name != flavor:
            if current.status == "ACTIVE":
                driver.resize_server(server.external_id or "", flavor_id)
            current = driver.wait_for_status(
                server.external_id or "", ("VERIFY_RESIZE", "ACTIVE"), timeout=active_timeout()
            )
            if current.status == "VERIFY_RESIZE":
                driver.confirm_resize(server.external_id or "")
                current = driver.wait_for_status(server.external_id or "", ("ACTIVE",), timeout=active_timeout())
        if current is None:
            raise CloudError("The server vanished during the resize.", not_found=True)
        if current.flavor_name and current.flavor_name != flavor:
            raise CloudError(
                current.fault or "The cloud did not resize the server (no room for the new flavor).", capacity=True
            )
    except CloudError as exc:
        if exc.transient:
            raise
        _resize_refused(server, token, exc)
        return server
    with transaction.atomic():
        _update_if_leased(
            server,
            token,
            state=SS.ACTIVE,
            flavor_name=flavor,
            lease_until=None,
            lease_token="",
            addresses=current.addresses or server.addresses,
        )
        record_event(
            actor=None,
            verb="server.resized",
            target=server,
            data={"booking": booking.pk, "flavor": flavor, "external_id": server.external_id},
        )
    return server


def _resize_refused(server: Server, token: str, exc: CloudError) -> None:
    """Put the booking back on the profile (and price) it had: the server still has that flavor."""
    assert server.booking_id is not None
    with transaction.atomic():
        engine.booking_profile_change_undo(
            actor=None, booking_id=server.booking_id, reason=f"The cloud refused the resize: {exc.message}"
        )
        _update_if_leased(
            server,
            token,
            state=SS.ACTIVE,
            lease_until=None,
            lease_token="",
            error_message=f"Resize refused: {exc.message}"[:500],
        )
        record_event(
            actor=None,
            verb="server.resize_refused",
            target=server,
            data={"booking": server.booking_id, "reason": exc.message},
        )
