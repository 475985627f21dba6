"""Usage samples: Nova's server diagnostics, taken once per interval for every running server."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatch
from typing import Any

from marketplace.lib import clock
from provisioning.drivers import driver_for
from provisioning.models import Server, ServerState, UsageSample
from provisioning.services.common import _setting
from scheduling.models import BookingState

B = BookingState
SS = ServerState


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


def server_meter(*, server_id: int, now: datetime | None = None) -> UsageSample | None:
    """Take one usage sample of a running server. Skipped if the last one is younger than the interval."""
    now = now or clock.now()
    server = Server.objects.select_related("cloud", "booking").filter(pk=server_id, state=SS.ACTIVE).first()
    if server is None or not server.external_id or server.booking_id is None:
        return None
    interval = _setting("METERING_INTERVAL_SECONDS", 60)
    last = UsageSample.objects.filter(server=server).order_by("-at").values_list("at", flat=True).first()
    if last is not None and (now - last).total_seconds() < interval * 0.9:
        return None
    raw = driver_for(server.cloud).diagnostics(server.external_id)
    return UsageSample.objects.create(
        server=server, booking_id=server.booking_id, at=now, raw=raw, **_parse_diagnostics(raw)
    )


def meter_due() -> list[int]:
    return list(
        Server.objects.filter(state=SS.ACTIVE, booking__state__in=(B.RUNNING, B.NOTICE), external_id__isnull=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )
