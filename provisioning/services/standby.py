"""The warm pool: keep each StandbyPool's servers booted and idle, refilled and trimmed in the background.

A pool server is a Server row with no booking (``standby`` when idle); booting one is a physical
claim like any other (provisioning/sql/server_capacity.sql), so a refill waits while the cloud is
full. Its idle time is the owner's cost (selectors.standby_idle_seconds).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from audit.services import record_event
from marketplace.lib import clock
from owners.models import StandbyPool
from provisioning.drivers import TAG_MARKETPLACE, CloudError, LaunchSpec, driver_for
from provisioning.models import Server, ServerState
from provisioning.services.common import _update_if_leased, active_timeout, claim_server, lease_seconds
from provisioning.services.reclaim import server_reclaim
from provisioning.services.transfer import META_POOL, POOL_STATES, STANDBY_PREFIX

log = logging.getLogger(__name__)
SS = ServerState


def pool_image(pool: StandbyPool) -> str:
    return pool.image or (pool.offering.allowed_images or [""])[0]


def pool_refill(*, pool_id: int, now: datetime | None = None) -> int:
    """Boot the servers the pool lacks (as many as the cloud has room for) and trim a surplus.

    Returns how many servers it booted. Idempotent; two workers at once boot no more than the
    pool lacks (the pool row is locked while the intents are recorded).
    """
    now = now or clock.now()
    booted: list[tuple[Server, str]] = []
    surplus: list[int] = []
    with transaction.atomic():
        pool = (
            StandbyPool.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("offering__cloud", "profile")
            .filter(pk=pool_id)
            .first()
        )
        if pool is None:
            return 0
        held = Server.objects.filter(pool=pool, booking__isnull=True, state__in=POOL_STATES)
        count = held.count()
        if count > pool.size:
            idle = held.filter(state=SS.STANDBY).filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            surplus = list(idle.order_by("-id").values_list("pk", flat=True)[: count - pool.size])
        active = pool.offering.status in ("published", "paused")
        for _ in range(max(0, pool.size - count) if active else 0):
            token = secrets.token_hex(16)
            server = Server(
                booking=None,
                pool=pool,
                cloud=pool.offering.cloud,
                offering=pool.offering,
                vcpus=pool.profile.vcpus,
                ram_mib=pool.profile.ram_mib,
                disk_gb=pool.profile.disk_gb,
                bandwidth_mbps=pool.profile.bandwidth_mbps,
                state=SS.BUILDING,
                name=f"{STANDBY_PREFIX}{secrets.token_hex(4)}",
                flavor_name=pool.profile.flavor_name,
                image_name=pool_image(pool),
                lease_until=now + timedelta(seconds=lease_seconds()),
                lease_token=token,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
            if not claim_server(server):
                break  # the cloud is full: the next refill (after a wipe or a delete) boots the rest
            record_event(actor=None, verb="server.standby_requested", target=server, data={"pool": pool.pk})
            booted.append((server, token))
    for pk in surplus:
        server_reclaim(server_id=pk, reason="standby pool trimmed")
    for server, token in booted:
        _boot(pool, server, token)
    return len(booted)


def _boot(pool: StandbyPool, server: Server, token: str) -> None:
    driver = driver_for(server.cloud)
    profile = pool.profile
    try:
        flavor_id = driver.ensure_flavor(
            name=profile.flavor_name, vcpus=profile.vcpus, ram_mib=profile.ram_mib, disk_gb=profile.disk_gb
        )
        # Its own group, closed while idle: a renter's transfer opens SSH to that renter's sources only.
        group = (
            driver.ensure_security_group(
                name=server.name, description="Marketplace standby server: nothing in until a renter.", cidrs=()
            )
            if driver.capabilities().security_groups
            else None
        )
        if group:
            _update_if_leased(server, token, security_group_name=group)
        created = driver.create_server(
            LaunchSpec(
                name=server.name,
                booking_id=0,
                flavor_id=flavor_id,
                image_id=driver.find_image(server.image_name),
                keypair_name=None,
                security_group_name=group,
                metadata={META_POOL: str(pool.pk)},
                tags=[TAG_MARKETPLACE],
            )
        )
        _update_if_leased(server, token, external_id=created.id)
        seen = (
            created if created.status == "ACTIVE" else driver.wait_for_status(created.id, ("ACTIVE",), active_timeout())
        )
    except CloudError as exc:
        log.warning("standby server for pool %s did not boot: %s", pool.pk, exc.message)
        _update_if_leased(server, token, state=SS.ERROR, error_message=exc.message[:500], lease_until=None)
        server_reclaim(server_id=server.pk, reason="standby boot failed")
        return
    if seen.status != "ACTIVE":
        _update_if_leased(
            server, token, state=SS.ERROR, error_message=(seen.fault or "boot failed")[:500], lease_until=None
        )
        server_reclaim(server_id=server.pk, reason="standby boot failed")
        return
    now = clock.now()
    with transaction.atomic():
        if _update_if_leased(
            server, token, state=SS.STANDBY, active_at=now, addresses=seen.addresses, lease_until=None, lease_token=""
        ):
            record_event(
                actor=None, verb="server.standby", target=server, data={"pool": pool.pk, "external_id": created.id}
            )


def pools_due(*, now: datetime | None = None) -> list[int]:
    """Pools that lack servers or hold too many, and pool rows stuck by a dead worker (reclaimed here)."""
    now = now or clock.now()
    stuck = Server.objects.filter(
        booking__isnull=True, state__in=(SS.PENDING, SS.BUILDING, SS.WIPING), lease_until__lte=now
    ).values_list("pk", flat=True)
    for pk in list(stuck[:50]):
        server_reclaim(server_id=pk, reason="standby work interrupted")
    due = []
    for pool in StandbyPool.objects.filter(Q(size__gt=0) | Q(servers__booking__isnull=True)).distinct():
        held = Server.objects.filter(pool=pool, booking__isnull=True, state__in=POOL_STATES).count()
        if held != pool.size:
            due.append(pool.pk)
    return due
