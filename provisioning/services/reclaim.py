"""Giving a server back: delete it in the cloud with its key pair and security group."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction

from audit.services import record_event
from marketplace.lib import clock
from provisioning.drivers import CloudError, driver_for
from provisioning.models import LIVE_STATES, Server, ServerState
from provisioning.services.common import _setting, _update_if_leased, lease_seconds
from provisioning.services.handover import awaits_hand_over
from provisioning.services.metering import meter_final

SS = ServerState


def server_reclaim(*, server_id: int, reason: str = "", actor: Any = None) -> Server | None:
    """Delete the cloud server, its key pair and security group; the row ends ``deleted``. Idempotent.

    The renter stops being charged when the reclaim is decided (held_until), not when the cloud finishes.
    """
    now = clock.now()
    with transaction.atomic():
        server = Server.objects.select_for_update(skip_locked=True).filter(pk=server_id).first()
        if server is None or server.state not in LIVE_STATES:
            return server
        if server.lease_until and server.lease_until > now and server.state != SS.ERROR:
            return None  # a launch, resize or another reclaim is at work; the sweep comes back
        if Server.objects.filter(pk=server.pk).filter(awaits_hand_over(now)).exists():
            return None  # the renter's next slice takes it over (handover.awaits_hand_over)
        token = uuid.uuid4().hex
        server.state = SS.DELETING
        server.held_until = server.held_until or (now if server.held_from else None)
        server.lease_until = now + timedelta(seconds=lease_seconds())
        server.lease_token = token
        server.updated_at = now
        server.save(update_fields=["state", "held_until", "lease_until", "lease_token", "updated_at"])
        record_event(
            actor=actor,
            verb="server.reclaim_requested",
            target=server,
            data={"booking": server.booking_id, "external_id": server.external_id, "reason": reason},
        )
    if server.booking_id is not None and server.held_from is not None:
        meter_final(server_id=server.pk)  # the last reading before the server goes (short slices have no other)
    driver = driver_for(server.cloud)
    revoked_at = None
    ids = {server.external_id} if server.external_id else set()
    try:
        # Also anything the cloud has for this booking (a launch killed before it recorded the id),
        # unless one launch attempt made exactly the server we know.
        if server.booking_id is not None and not (server.external_id and server.attempts == 1):
            ids |= {s.id for s in driver.find_servers_for_booking(server.booking_id)}
        successor_ids = set(
            Server.objects.filter(state__in=LIVE_STATES, external_id__in=ids)
            .exclude(pk=server.pk)
            .values_list("external_id", flat=True)
        )
        for ext in sorted(ids - successor_ids):
            driver.delete_server(ext)
        revoked_at = clock.now()  # the holder's access ends when the cloud accepts the delete
        shared = Server.objects.filter(state__in=LIVE_STATES).exclude(pk=server.pk)
        if server.keypair_name and not shared.filter(keypair_name=server.keypair_name).exists():
            driver.delete_keypair(server.keypair_name)  # a key pair is not in use once the delete is asked
        for ext in sorted(ids - successor_ids):
            driver.wait_for_delete(ext, timeout=_setting("PROVISIONING_DELETE_TIMEOUT_SECONDS", 120))
        if server.security_group_name and not shared.filter(security_group_name=server.security_group_name).exists():
            driver.delete_security_group(server.security_group_name)
    except CloudError as exc:
        _update_if_leased(server, token, lease_until=None, error_message=exc.message[:500])
        raise
    with transaction.atomic():
        _update_if_leased(server, token, state=SS.DELETED, deleted_at=clock.now(), lease_until=None, lease_token="")
        Server.objects.filter(pk=server.pk, revoked_at__isnull=True).update(revoked_at=revoked_at)
        record_event(
            actor=actor,
            verb="server.deleted",
            target=server,
            data={"booking": server.booking_id, "external_ids": sorted(ids), "reason": reason},
        )
    return server
