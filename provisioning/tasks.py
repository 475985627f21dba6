"""Celery tasks of provisioning: thin, idempotent, acks_late, retried with backoff on transient cloud errors.

The beat tasks find due work by state and time (rows taken with
select_for_update(skip_locked=True), leases on Server rows), so any number of
workers can share them and a task delivered twice does nothing the second time.
"""

from __future__ import annotations

import logging

from celery import shared_task

from marketplace.lib import enqueue
from provisioning import services
from provisioning.drivers import CloudError

log = logging.getLogger(__name__)

RETRY = {
    "acks_late": True,
    "autoretry_for": (CloudError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


def _transient(exc: CloudError) -> None:
    """Only transient errors are retried; others were already turned into a failed booking."""
    if exc.transient:
        raise exc
    log.warning("cloud refused for good: %s", exc.message)


@shared_task(name="provisioning.launch_booking", **RETRY)
def launch_booking(booking_id: int) -> int | None:
    try:
        server = services.server_launch(booking_id=booking_id)
    except CloudError as exc:
        _transient(exc)
        return None
    return server.pk if server else None


@shared_task(name="provisioning.reclaim_server", **RETRY)
def reclaim_server(server_id: int, reason: str = "") -> None:
    try:
        services.server_release(server_id=server_id, reason=reason)
    except CloudError as exc:
        _transient(exc)


@shared_task(name="provisioning.reclaim_booking", **RETRY)
def reclaim_booking(booking_id: int, reason: str = "") -> None:
    try:
        services.booking_reclaim(booking_id=booking_id, reason=reason)
    except CloudError as exc:
        _transient(exc)


@shared_task(name="provisioning.resize_server", **RETRY)
def resize_server(server_id: int) -> None:
    try:
        services.server_resize_run(server_id=server_id)
    except CloudError as exc:
        _transient(exc)


@shared_task(name="provisioning.meter_start", acks_late=True, ignore_result=True)
def meter_start(server_id: int) -> None:
    """The baseline usage reading at the slice's start (sent with that instant as its ETA)."""
    services.meter_start(server_id=server_id)


@shared_task(name="provisioning.meter_server", acks_late=True, ignore_result=True)
def meter_server(server_id: int) -> None:
    try:
        services.server_meter(server_id=server_id)
    except CloudError as exc:  # a missed sample is not worth a retry: the next interval takes one
        log.info("metering server %s skipped: %s", server_id, exc.message)


# ---- exact times: the start and end of each slice, at their instant -----------------------------


@shared_task(name="provisioning.deliver_booking", **RETRY)
def deliver_booking(booking_id: int) -> str:
    """The start step (standby transfer, the previous slice's server, or a launch), at its instant."""
    try:
        result = services.booking_deliver(booking_id=booking_id)
    except CloudError as exc:
        _transient(exc)
        return "failed"
    if result.retry_at is not None:
        enqueue.send_at("provisioning.deliver_booking", booking_id, at=result.retry_at, key=f"deliver:{booking_id}")
    return result.action


@shared_task(name="provisioning.finish_booking", **RETRY)
def finish_booking(booking_id: int) -> None:
    """The end step, at the slice's end or its preemption deadline: the engine ends it, the server moves on."""
    services.end_booking_now(booking_id=booking_id)
    try:
        services.booking_reclaim(booking_id=booking_id, reason="slice ended")
    except CloudError as exc:
        _transient(exc)


@shared_task(name="provisioning.refill_pool", **RETRY)
def refill_pool(pool_id: int) -> int:
    try:
        return services.pool_refill(pool_id=pool_id)
    except CloudError as exc:
        _transient(exc)
        return 0


# ---- beat -----------------------------------------------------------------------------------------


@shared_task(name="provisioning.schedule_due", acks_late=True, ignore_result=True)
def schedule_due() -> int:
    """Send the exact-time steps that came within the horizon, and refill the pools that are short."""
    sent = services.schedule_instants()
    for pool_id in services.pools_due():
        refill_pool.delay(pool_id)
    return sent


@shared_task(name="provisioning.launch_due", acks_late=True, ignore_result=True)
def launch_due() -> int:
    ids = services.launch_due()
    for booking_id in ids:
        deliver_booking.delay(booking_id)
    return len(ids)


@shared_task(name="provisioning.reclaim_due", acks_late=True, ignore_result=True)
def reclaim_due() -> int:
    ids = services.hand_over_or_reclaim_due()
    for server_id in ids:
        reclaim_server.delay(server_id, "sweep")
    return len(ids)


@shared_task(name="provisioning.resize_due", acks_late=True, ignore_result=True)
def resize_due() -> int:
    ids = services.resize_due()
    for server_id in ids:
        resize_server.delay(server_id)
    return len(ids)


@shared_task(name="provisioning.reconcile", acks_late=True, ignore_result=True)
def reconcile() -> dict[str, object]:
    result = services.reconcile()
    return {
        "orphans_deleted": len(result.orphans_deleted),
        "bookings_failed": len(result.bookings_failed),
        "errors": result.errors,
    }


@shared_task(name="provisioning.meter", acks_late=True, ignore_result=True)
def meter() -> int:
    ids = services.meter_due()
    for server_id in ids:
        meter_server.delay(server_id)
    return len(ids)
