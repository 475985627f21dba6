"""Reads of provisioning, restricted to what the user may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from marketplace.lib import clock
from provisioning.models import LIVE_STATES, Server, ServerState, UsageSample
from scheduling.models import Booking

COUNTERS = ("cpu_time_ns", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes")


def servers_visible_to(user: Any) -> QuerySet[Server]:
    """Renters see their bookings' servers; owners the servers on their clouds; staff all."""
    qs = Server.objects.select_related("booking", "cloud")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.is_staff:
        return qs
    from django.db.models import Q

    return qs.filter(Q(booking__renter=user) | Q(cloud__owner=user))


def server_for_booking(booking: Booking) -> Server | None:
    """The server the booking holds now (or held last)."""
    live = Server.objects.filter(booking=booking, state__in=LIVE_STATES).first()
    return live or Server.objects.filter(booking=booking).order_by("-id").first()


def seconds_held(booking: Booking) -> int:
    """Seconds the renter held a server within the booking's window: the figure billing charges."""
    now = clock.now()
    return sum(s.seconds_held(now) for s in Server.objects.filter(booking=booking, held_from__isnull=False))


def hold_periods(booking_id: int) -> list[tuple[datetime | None, datetime | None]]:
    """(held from, held until) of each server launched for the booking, for billing's charge.

    ``held from`` is None for a server that never reached the renter; ``held until`` is None while it is held.
    """
    return list(Server.objects.filter(booking_id=booking_id).values_list("held_from", "held_until"))


def usage_for_booking(booking: Booking) -> dict[str, Any]:
    """The usage series of a booking, its totals and the seconds held.

    Cumulative counters (CPU time, disk and network bytes) are totalled as the
    growth over the booking's samples per server (a server handed over from the
    previous slice only counts what grew during this one); memory as its peak.
    """
    samples = list(UsageSample.objects.filter(booking=booking).order_by("at", "id"))
    series = [
        {
            "at": s.at.isoformat().replace("+00:00", "Z"),
            "server": s.server_id,
            "cpu_time_ns": s.cpu_time_ns,
            "memory_mib": s.memory_mib,
            "disk_read_bytes": s.disk_read_bytes,
            "disk_write_bytes": s.disk_write_bytes,
            "net_rx_bytes": s.net_rx_bytes,
            "net_tx_bytes": s.net_tx_bytes,
        }
        for s in samples
    ]
    totals: dict[str, int] = {}
    by_server: dict[int, list[UsageSample]] = {}
    for s in samples:
        by_server.setdefault(s.server_id, []).append(s)
    for name in COUNTERS:
        total = 0
        for rows in by_server.values():
            values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
            if len(values) >= 2:
                total += max(0, values[-1] - values[0])
        totals[name] = total
    memories = [s.memory_mib for s in samples if s.memory_mib is not None]
    totals["memory_mib_peak"] = max(memories) if memories else 0
    totals["samples"] = len(samples)
    return {"samples": series, "totals": totals, "seconds_held": seconds_held(booking)}


def connection_info(booking: Booking) -> dict[str, Any] | None:
    """How the renter connects: addresses, user, key pair, and what isolation the cloud could give."""
    server = server_for_booking(booking)
    if server is None:
        return None
    addresses = []
    for net, entries in (server.addresses or {}).items():
        for e in entries or []:
            if isinstance(e, dict) and e.get("addr"):
                addresses.append({"network": net, "addr": e["addr"], "version": e.get("version", 4)})
    primary = next((a["addr"] for a in addresses if a["version"] == 4), addresses[0]["addr"] if addresses else "")
    return {
        "state": server.state,
        "ready": server.state == ServerState.ACTIVE,
        "name": server.name,
        "addresses": addresses,
        "ssh": _ssh_command(server.image_name, primary),
        "keypair": server.keypair_name,
        "security_group": server.security_group_name,
        "isolation_note": server.isolation_note,
        "error": server.error_message,
        "flavor": server.flavor_name,
        "image": server.image_name,
    }


def _ssh_command(image: str, address: str) -> str:
    """``ssh user@address`` when the image's name tells its cloud user, else ``ssh address``."""
    if not address:
        return ""
    user = _login_user(image)
    return f"ssh {user}@{address}" if user else f"ssh {address}"


def _login_user(image: str) -> str:
    low = (image or "").lower()
    for prefix, user in (
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("cirros", "cirros"),
        ("fedora", "fedora"),
        ("centos", "cloud-user"),
        ("rocky", "rocky"),
        ("alma", "almalinux"),
    ):
        if low.startswith(prefix):
            return user
    return ""  # unknown: the renter's own user-data or image documentation says
