"""Usage samples of a booking's server: a baseline when it becomes the renter's, one per interval while it
runs, and a final one just before it is wiped, deleted or handed on.

The first and the last sample bound the renter's tenure, so a 5-second slice has two readings to compare
even though the periodic sweep (every METERING_INTERVAL_SECONDS) never sees it.

Counters come from Nova's server diagnostics, which Nova's default policy shows to admins only
(os_compute_api:os-server-diagnostics). With the owner's ordinary role the driver raises
DiagnosticsForbidden: the sample then records the server's status, which any project member may read
(the selector turns consecutive ACTIVE readings into seconds active), and the reason, which the usage
API reports per figure under ``unavailable``. A cloud that refused once is asked again only after
FORBIDDEN_RECHECK_SECONDS (or once its credentials change), so a member's metering costs one call.

Every cloud call here runs outside any transaction; the sample is written afterwards in its own INSERT.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from fnmatch import fnmatch
from typing import Any

from marketplace.lib import clock, enqueue
from owners.models import Cloud
from provisioning.drivers import CloudError, driver_for
from provisioning.drivers.base import DiagnosticsForbidden
from provisioning.models import Server, ServerState, UsageSample
from provisioning.services.common import _setting
from scheduling.models import BookingState

log = logging.getLogger(__name__)

B = BookingState
SS = ServerState

# Keys this module adds to UsageSample.raw next to the driver's counters.
RAW_SOURCE = "_source"  # "diagnostics" (counters) or "status" (the server's status only)
RAW_NOTE = "_note"  # why counters are missing (source "status")
RAW_KIND = "_kind"  # "start", "periodic" or "final"

FORBIDDEN_RECHECK_SECONDS = 600.0
# (cloud id, credentials' version) -> (monotonic time of the refusal, the reason)
_forbidden: dict[tuple[int, str], tuple[float, str]] = {}


def _num(raw: dict[str, Any], *patterns: str) -> int | None:
    """Sum of the numeric counters whose key matches one of the glob patterns (None if none does)."""
    values = [
        int(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and any(fnmatch(k, p) for p in patterns)
    ]
    return sum(values) if values else None


def _parse_diagnostics(raw: dict[str, Any]) -> dict[str, int | None]:
    """Nova's legacy diagnostics keys (cpu0_time, memory, vda_read, vnet0_rx, ...) to our counters."""
    memory_kib = _num(raw, "memory")
    return {
        "cpu_time_ns": _num(raw, "cpu*_time"),
        "memory_mib": memory_kib // 1024 if memory_kib is not None else None,
        "disk_read_bytes": _num(raw, "vd*_read", "sd*_read"),
        "disk_write_bytes": _num(raw, "vd*_write", "sd*_write"),
        "net_rx_bytes": _num(raw, "vnet*_rx", "tap*_rx"),
        "net_tx_bytes": _num(raw, "vnet*_tx", "tap*_tx"),
    }


def _cloud_key(cloud: Cloud) -> tuple[int, str]:
    return (cloud.pk or 0, str(cloud.updated_at))


def _read(server: Server) -> dict[str, Any]:
    """One reading of the server from the cloud: its diagnostics, or its status where diagnostics are refused.

    Raises CloudError when the cloud fails or has no such server.
    """
    assert server.external_id
    driver = driver_for(server.cloud)
    key = _cloud_key(server.cloud)
    refused = _forbidden.get(key)
    if refused is None or time.monotonic() - refused[0] >= FORBIDDEN_RECHECK_SECONDS:
        try:
            raw = dict(driver.diagnostics(server.external_id))
        except DiagnosticsForbidden as exc:
            refused = (time.monotonic(), exc.message)
            _forbidden[key] = refused
            log.info("cloud %s refuses server diagnostics: metering by status only", server.cloud_id)
        else:
            _forbidden.pop(key, None)
            raw[RAW_SOURCE] = "diagnostics"
            return raw
    seen = driver.get_server(server.external_id)
    if seen is None:
        raise CloudError("The server is no longer on the cloud.", not_found=True)
    return {"status": seen.status, RAW_SOURCE: "status", RAW_NOTE: refused[1]}


def _record(server: Server, raw: dict[str, Any], *, kind: str, at: datetime) -> UsageSample:
    assert server.booking_id is not None  # only a renter's tenure is metered
    return UsageSample.objects.create(
        server=server,
        booking_id=server.booking_id,
        at=at,
        raw={**raw, RAW_KIND: kind},
        **_parse_diagnostics(raw),
    )


def _meter_now(server_id: int, *, kind: str, next_server_id: int | None = None) -> UsageSample | None:
    """A sample taken now whatever the interval; None (logged) if the cloud cannot give one."""
    server = Server.objects.select_related("cloud").filter(pk=server_id).first()
    if server is None or not server.external_id or server.state == SS.DELETED:
        return None
    if kind == "final" and next_server_id is None:
        last = UsageSample.objects.filter(server=server).order_by("-at", "-id").first()
        if last is not None and (last.raw or {}).get(RAW_KIND) == "final":
            return last  # already taken (a transfer's step, then the reclaim's): one final reading per tenure
    try:
        raw = _read(server)
    except CloudError as exc:
        log.warning("metering server %s (%s sample) skipped: %s", server_id, kind, exc.message)
        return None
    except Exception:  # a metering bug must never stop a launch, a transfer or a reclaim
        log.exception("metering server %s (%s sample) failed", server_id, kind)
        return None
    at = clock.now()
    sample = _record(server, raw, kind=kind, at=at)
    if next_server_id is not None:
        nxt = Server.objects.filter(pk=next_server_id, external_id=server.external_id).first()
        if nxt is not None:  # the same reading is the baseline of the renter's next slice on this server
            _record(nxt, raw, kind="start", at=at)
    return sample


def meter_start(*, server_id: int) -> UsageSample | None:
    """The baseline sample, taken the moment the server becomes usable by the renter (launched or transferred).

    Usage is the growth from this reading, so what the server did before (boot, a previous holder) is not
    counted. Never raises for a cloud error (logs, returns None); call it outside any transaction.
    """
    return _meter_now(server_id, kind="start")


def meter_final(*, server_id: int, next_server_id: int | None = None) -> UsageSample | None:
    """The final sample, taken just before the server is wiped, deleted or handed to someone else.

    For a hand-over to the same renter's next slice pass ``next_server_id`` (the next booking's Server row
    on the same cloud server): one reading ends this tenure and starts that one. Never raises for a cloud
    error (logs, returns None); call it outside any transaction, after the reclaim's intent is committed.
    """
    return _meter_now(server_id, kind="final", next_server_id=next_server_id)


def meter_start_at(*, server_id: int, at: datetime) -> None:
    """The baseline at the instant the renter's slice starts (now if it has): a server made usable ahead
    of its slice (a launch in the boot lead, a standby server rebuilt just before) is measured from the start."""
    if at <= clock.now():
        meter_start(server_id=server_id)
    else:
        enqueue.send_at("provisioning.meter_start", server_id, at=at, key=f"meter-start:{server_id}")


def server_meter(*, server_id: int, now: datetime | None = None) -> UsageSample | None:
    """Take one periodic usage sample of a running server. Skipped if the last one is younger than the interval.

    Raises CloudError when the cloud fails (the task logs it).
    """
    now = now or clock.now()
    server = Server.objects.select_related("cloud", "booking").filter(pk=server_id, state=SS.ACTIVE).first()
    if server is None or not server.external_id or server.booking_id is None:
        return None
    interval = _setting("METERING_INTERVAL_SECONDS", 60)
    last = UsageSample.objects.filter(server=server).order_by("-at").values_list("at", flat=True).first()
    if last is not None and (now - last).total_seconds() < interval * 0.9:
        return None
    return _record(server, _read(server), kind="periodic", at=now)


def meter_due() -> list[int]:
    return list(
        Server.objects.filter(state=SS.ACTIVE, booking__state__in=(B.RUNNING, B.NOTICE), external_id__isnull=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )
