"""Making the clouds and the Server rows agree: orphans deleted, lost servers fail their booking."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from audit.services import record_event
from marketplace.lib import clock
from owners.models import Cloud
from provisioning.drivers import CloudError, CloudServer, booking_ref, driver_for
from provisioning.models import LIVE_STATES, Server, ServerState
from provisioning.services.common import LAUNCHABLE, _move_booking
from provisioning.services.reclaim import server_reclaim
from scheduling.models import BookingState

log = logging.getLogger(__name__)
B = BookingState
SS = ServerState


@dataclass
class ReconcileResult:
    orphans_deleted: list[str]
    bookings_failed: list[int]
    clouds_checked: int
    errors: list[str]
    leftovers_deleted: list[str] = field(default_factory=list)


def reconcile(*, now: datetime | None = None) -> ReconcileResult:
    """Make the clouds and the Server rows agree. Audited action by action.

    - a cloud server tagged by the marketplace that no live Server row claims is deleted;
    - a running booking whose server vanished or went to ERROR fails (the engine tells billing to refund).
    """
    now = now or clock.now()
    result = ReconcileResult([], [], 0, [])
    # Every cloud the marketplace has used or sells on (a killed worker can leave a server on either).
    cloud_ids = set(Server.objects.values_list("cloud_id", flat=True).distinct())
    selling = Q(offerings__status__in=("published", "paused"))
    for cloud in Cloud.objects.filter(Q(pk__in=cloud_ids) | selling).distinct().order_by("id"):
        result.clouds_checked += 1
        try:
            _reconcile_cloud(cloud, now, result)
        except CloudError as exc:
            result.errors.append(f"{cloud.name}: {exc.message}")
            log.warning("reconcile of cloud %s failed: %s", cloud.pk, exc.message)
    return result


def _reconcile_cloud(cloud: Cloud, now: datetime, result: ReconcileResult) -> None:
    driver = driver_for(cloud)
    listed = {s.id: s for s in driver.list_marketplace_servers()}
    tracked = set(
        Server.objects.filter(cloud=cloud, state__in=LIVE_STATES, external_id__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    launching = set(
        Server.objects.filter(
            cloud=cloud, state__in=(SS.PENDING, SS.BUILDING), external_id__isnull=True, booking__state__in=LAUNCHABLE
        ).values_list("booking_id", flat=True)
    )
    launching_refs = {booking_ref(b) for b in launching}
    # Standby servers being booted whose cloud id is not recorded yet (their pool id is in the metadata).
    booting_pools = {
        str(p)
        for p in Server.objects.filter(
            cloud=cloud, booking__isnull=True, state__in=(SS.PENDING, SS.BUILDING), external_id__isnull=True
        ).values_list("pool_id", flat=True)
    }
    for ext, cs in listed.items():
        if ext in tracked or cs.status == "DELETED":
            continue
        if cs.metadata.get("marketplace_pool") in booting_pools:
            continue
        if cs.booking_ref and cs.booking_ref in launching_refs:
            continue  # a launch is recording it right now (or will adopt it on retry)
        driver.delete_server(ext)
        with transaction.atomic():
            record_event(
                actor=None,
                verb="server.orphan_deleted",
                target=cloud,
                data={"external_id": ext, "name": cs.name, "booking_ref": cs.booking_ref, "status": cs.status},
            )
        result.orphans_deleted.append(ext)
    # Key pairs and security groups this installation made (named on its Server rows) that no live row
    # uses any more: left behind when a reclaim could not finish. Names it never made are not ours.
    rows = Server.objects.filter(cloud=cloud)
    live = rows.filter(state__in=LIVE_STATES)
    ended = rows.exclude(state__in=LIVE_STATES)
    ours_kp = set(ended.values_list("keypair_name", flat=True)) - set(live.values_list("keypair_name", flat=True))
    ours_sg = set(ended.values_list("security_group_name", flat=True)) - set(
        live.values_list("security_group_name", flat=True)
    )
    leftovers = [f"keypair:{n}" for n in driver.list_marketplace_keypairs() if n in ours_kp]
    leftovers += [f"security_group:{n}" for n in driver.list_marketplace_security_groups() if n in ours_sg]
    for item in leftovers:
        kind, _, name = item.partition(":")
        (driver.delete_keypair if kind == "keypair" else driver.delete_security_group)(name)
    if leftovers:
        result.leftovers_deleted.extend(leftovers)
        with transaction.atomic():
            record_event(actor=None, verb="server.leftovers_deleted", target=cloud, data={"deleted": leftovers})
    # Servers we believe up that the cloud lost or broke.
    # Idle standby servers too: one the cloud lost leaves the pool (the refill boots another).
    watched = Server.objects.filter(
        cloud=cloud, state__in=(SS.ACTIVE, SS.RESIZING, SS.STANDBY), external_id__isnull=False
    )
    watched = watched.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).select_related("booking")
    for server in watched:
        seen: CloudServer | None = listed.get(server.external_id or "")
        if seen is None:
            seen = driver.get_server(server.external_id or "")  # not tagged (e.g. tags unsupported)?
        gone = seen is None or seen.status in ("DELETED", "SOFT_DELETED")  # listed while Nova finishes a delete
        if not gone and seen is not None and seen.status != "ERROR":
            continue
        what = "vanished from the cloud" if gone else "went to ERROR in the cloud"
        reason = (
            f"Your server {what}. The booking was ended and the unused time will be refunded."
            if server.booking_id is not None
            else f"The standby server {what}; the pool boots another."
        )
        with transaction.atomic():
            locked = Server.objects.select_for_update().get(pk=server.pk)
            if locked.state not in (SS.ACTIVE, SS.RESIZING, SS.STANDBY):
                continue
            locked.state, locked.error_message, locked.updated_at = SS.ERROR, reason, now
            locked.held_until = locked.held_until or now
            locked.save(update_fields=["state", "error_message", "held_until", "updated_at"])
            record_event(
                actor=None,
                verb="server.lost",
                target=locked,
                data={"booking": locked.booking_id, "external_id": locked.external_id, "what": what},
            )
        if server.booking_id is not None and _move_booking(server.booking_id, B.FAILED, reason=reason):
            result.bookings_failed.append(server.booking_id)
        server_reclaim(server_id=server.pk, reason=what)
