"""The warm pool: keep each StandbyPool's servers booted and idle, refilled and trimmed in the background.

A pool server is a Server row with no booking (``standby`` when idle); booting one is a physical
claim like any other (provisioning/sql/server_capacity.sql), so a refill waits while the cloud is
full. Its idle time is the owner's cost (selectors.standby_idle_seconds).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import PermissionDeniedError, ValidationFailed
from owners.models import Offering, StandbyPool
from owners.services import standby_pool_set
from provisioning.drivers import TAG_MARKETPLACE, CloudError, LaunchSpec, driver_for
from provisioning.models import LIVE_STATES, Server, ServerState
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


# ---- adopting the owner's existing servers ------------------------------------------------------


def _adopt_refused(message: str) -> ValidationFailed:
    return ValidationFailed({"external_id": [message]})


def server_adopt(*, actor: Any, offering: Offering, pool: StandbyPool, external_id: str) -> Server:
    """Take one of the owner's existing cloud servers into ``pool`` as an idle standby server.

    Rules: the actor may change the offering; the pool is the offering's; the server is in the
    cloud project's list, ACTIVE, on the pool profile's flavor, and not tracked by a live Server
    row; it is a physical claim like any pool server (refused when the offering's capacity is
    full). The pool grows by one when it already holds its size, through standby_pool_set (so the
    server is held back from sale and not trimmed). Like every standby server it is rebuilt (its
    disk replaced) before a renter gets it. The cloud is listed outside any transaction.
    """
    allowed = getattr(actor, "is_authenticated", False) and (
        actor.is_superuser or actor.has_perm("owners.change_offering", offering)
    )
    if not allowed:
        raise PermissionDeniedError("You do not have access to this item.")
    if pool.offering_id != offering.pk:
        raise ValidationFailed({"pool": ["This standby pool belongs to another offering."]})
    external_id = (external_id or "").strip()
    if not external_id:
        raise _adopt_refused("Choose a server.")
    offering = Offering.objects.select_related("cloud").get(pk=offering.pk)
    try:
        listed = {s.id: s for s in driver_for(offering.cloud).list_project_servers()}
    except CloudError as exc:
        raise _adopt_refused(f"The cloud did not list its servers: {exc.message}") from exc
    seen = listed.get(external_id)
    if seen is None:
        raise _adopt_refused("This server is not in your cloud project's list of servers.")
    if seen.status != "ACTIVE":
        raise _adopt_refused(f"The server is {seen.status}: only ACTIVE servers can be adopted.")
    now = clock.now()
    with transaction.atomic():
        pool = StandbyPool.objects.select_for_update().select_related("profile").get(pk=pool.pk)
        profile = pool.profile
        if seen.flavor_name != profile.flavor_name:
            raise _adopt_refused(
                f"The server runs flavor {seen.flavor_name or 'unknown'}, but this pool's profile "
                f"{profile.name} uses flavor {profile.flavor_name}: adopt it into a pool of its flavor."
            )
        if Server.objects.filter(external_id=external_id, state__in=LIVE_STATES).exists():
            raise _adopt_refused("The marketplace already tracks this server.")
        held = Server.objects.filter(pool=pool, booking__isnull=True, state__in=POOL_STATES).count()
        if held >= pool.size:
            pool = standby_pool_set(
                actor=actor, offering=offering, profile=profile, image=pool.image, size=min(64, held + 1)
            )
            if held >= pool.size:
                raise ValidationFailed({"pool": ["This pool holds 64 standby servers already."]})
        server = Server(
            booking=None,
            pool=pool,
            cloud=offering.cloud,
            offering=offering,
            vcpus=profile.vcpus,
            ram_mib=profile.ram_mib,
            disk_gb=profile.disk_gb,
            bandwidth_mbps=profile.bandwidth_mbps,
            state=SS.STANDBY,
            name=seen.name[:100] or f"{STANDBY_PREFIX}adopted",
            external_id=external_id,
            flavor_name=seen.flavor_name,
            image_name=pool_image(pool),
            addresses=seen.addresses,
            created_at=now,
            updated_at=now,
            active_at=now,
        )
        try:
            claimed = claim_server(server)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
            if constraint != "provisioning_server_unique_external_id":
                raise
            # Another adoption (or a reconcile) of the same server won the race.
            raise _adopt_refused("The marketplace already tracks this server.") from exc
        if not claimed:
            raise _adopt_refused("The offering's capacity is full: no room for another standby server.")
        record_event(
            actor=actor,
            verb="server.adopted_standby",
            target=server,
            data={"pool": pool.pk, "offering": offering.pk, "external_id": external_id, "flavor": seen.flavor_name},
        )
    return server
