"""Reads of provisioning, restricted to what the user may see."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.db.models import QuerySet

from marketplace.lib import clock
from marketplace.lib.staff import staff_may
from owners.models import Offering
from provisioning.models import LIVE_STATES, Server, ServerState, UsageSample
from scheduling.models import Booking, BookingState

COUNTERS = ("cpu_time_ns", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes")


def servers_visible_to(user: Any) -> QuerySet[Server]:
    """Renters see their bookings' servers; owners the servers on their clouds; staff all."""
    qs = Server.objects.select_related("booking", "cloud")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if staff_may(user, "provisioning.view_server"):
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


# Figures of the usage totals that come from the cloud's counters, and the sample counter each is read from.
FIGURES = {
    "cpu_time_ns": "cpu_time_ns",
    "cpu_seconds": "cpu_time_ns",
    "memory_mib_peak": "memory_mib",
    "disk_read_bytes": "disk_read_bytes",
    "disk_write_bytes": "disk_write_bytes",
    "net_rx_bytes": "net_rx_bytes",
    "net_tx_bytes": "net_tx_bytes",
}
FIGURE_LABELS = {
    "cpu_time_ns": "CPU time",
    "cpu_seconds": "CPU seconds",
    "memory_mib_peak": "peak memory",
    "disk_read_bytes": "disk read",
    "disk_write_bytes": "disk written",
    "net_rx_bytes": "network in",
    "net_tx_bytes": "network out",
}
NOT_REPORTED = "The cloud's server diagnostics did not report this figure for this server."
READ_ONCE = (
    "Partly unmeasured: a server of this booking was read only once (its start or final reading failed), "
    "and growth needs two readings."
)
ENDED_STATES = (ServerState.DELETED, ServerState.HANDED_OVER)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _growth(before: int | None, after: int | None) -> int | None:
    """How much a cumulative counter grew between two readings.

    A reading lower than the one before means the counter restarted (a rebuild, a resize or a move boots a
    new guest): a new segment starts from zero at the restart, so its growth is the new reading itself.
    """
    if before is None or after is None:
        return None
    return after - before if after >= before else after


def _active(sample: UsageSample) -> bool:
    """Whether the server was ACTIVE at the sample (its status, or the diagnostics' power state).

    Samples from before metering recorded either were only taken of ACTIVE servers.
    """
    raw = sample.raw or {}
    if "status" in raw:
        return str(raw["status"]).upper() == "ACTIVE"
    if raw.get("state") is not None:
        return str(raw["state"]).lower() in ("running", "active", "1")
    return True


def usage_for_booking(booking: Booking) -> dict[str, Any]:
    """The usage of a booking: its samples, per-interval series, totals, what is unavailable and why.

    Samples belong to one booking's tenure of a server (a Server row): the first is the baseline taken when
    the server became the renter's, the last the final one taken before it was wiped or handed on, so a
    5-second slice is measured by two readings. Cumulative counters (CPU time, disk and network bytes) are
    totalled as their growth over each server's samples, summing segments across counter restarts; memory as
    its peak; seconds active as the time between consecutive readings that both found the server ACTIVE.
    ``unavailable`` maps a figure to the reason it is missing or partial (e.g. diagnostics need the admin
    role); a figure no reading gave is null, not zero.
    """
    samples = list(UsageSample.objects.filter(booking=booking).order_by("at", "id"))
    by_server: dict[int, list[UsageSample]] = {}
    for s in samples:
        by_server.setdefault(s.server_id, []).append(s)

    growth: dict[str, int | None] = dict.fromkeys(COUNTERS)
    series: list[dict[str, Any]] = []
    seconds_active = seconds_metered = 0.0
    for rows in by_server.values():
        for name in COUNTERS:
            values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
            if values:
                grown = sum(_growth(a, b) or 0 for a, b in zip(values, values[1:], strict=False))
                growth[name] = (growth[name] or 0) + grown
        for a, b in zip(rows, rows[1:], strict=False):
            seconds = (b.at - a.at).total_seconds()
            active = _active(a) and _active(b)
            deltas = {name: _growth(getattr(a, name), getattr(b, name)) for name in COUNTERS}
            cpu_ns = deltas["cpu_time_ns"]
            seconds_metered += seconds
            seconds_active += seconds if active else 0.0
            series.append(
                {
                    "server": a.server_id,
                    "start": _iso(a.at),
                    "end": _iso(b.at),
                    "seconds": round(seconds, 3),
                    "active": active,
                    "restarted": any(
                        getattr(a, n) is not None and getattr(b, n) is not None and getattr(b, n) < getattr(a, n)
                        for n in COUNTERS
                    ),
                    **deltas,
                    "cpu_seconds": round(cpu_ns / 1e9, 3) if cpu_ns is not None else None,
                    # CPU seconds per second: 1.0 is one vCPU busy all the interval.
                    "cpu_load": round(cpu_ns / 1e9 / seconds, 3) if cpu_ns is not None and seconds > 0 else None,
                    "memory_mib": b.memory_mib,
                }
            )

    unavailable: dict[str, str] = {}
    for s in samples:  # the latest reason wins
        reason = (s.raw or {}).get("_note") or NOT_REPORTED
        for figure, counter in FIGURES.items():
            if getattr(s, counter) is None:
                unavailable[figure] = reason
    read_once = [pk for pk, rows in by_server.items() if len(rows) == 1]
    if read_once and Server.objects.filter(pk__in=read_once, state__in=ENDED_STATES).exists():
        for figure, counter in FIGURES.items():
            if counter in COUNTERS:
                unavailable.setdefault(figure, READ_ONCE)

    memories = [s.memory_mib for s in samples if s.memory_mib is not None]
    cpu_ns_total = growth["cpu_time_ns"]
    totals: dict[str, Any] = {name: growth[name] for name in COUNTERS}
    totals |= {
        "cpu_seconds": round(cpu_ns_total / 1e9, 3) if cpu_ns_total is not None else None,
        "memory_mib_peak": max(memories) if memories else None,
        "seconds_active": round(seconds_active, 3),
        "seconds_metered": round(seconds_metered, 3),
        "samples": len(samples),
    }
    if not samples:  # nothing metered yet: zeros, not "unknown"
        totals |= dict.fromkeys(FIGURES, 0)
    return {
        "samples": [
            {
                "at": _iso(s.at),
                "server": s.server_id,
                "kind": (s.raw or {}).get("_kind", "periodic"),
                "active": _active(s),
                **{name: getattr(s, name) for name in ("cpu_time_ns", "memory_mib", *COUNTERS[1:])},
            }
            for s in samples
        ],
        "series": series,
        "totals": totals,
        "unavailable": unavailable,
        # The same, one entry per reason (the portal page); the API gives ``unavailable``.
        "unavailable_by_reason": [
            {"reason": reason, "figures": [FIGURE_LABELS[f] for f, r in unavailable.items() if r == reason]}
            for reason in dict.fromkeys(unavailable.values())
        ],
        "seconds_held": seconds_held(booking),
    }


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
    return "root"


# ---- standby servers (the warm pool) -----------------------------------------------------------

# The pool's states: booting, idle, or being wiped for it (transfer.POOL_STATES, read-only copy here).
POOL_STATES = (ServerState.PENDING, ServerState.BUILDING, ServerState.STANDBY, ServerState.WIPING)


def standby_servers(offering_id: int) -> QuerySet[Server]:
    """The offering's standby servers now: rows without a booking that the pool holds (booting,
    idle, being wiped). The caller has checked that the user may see the offering."""
    return (
        Server.objects.filter(offering_id=offering_id, booking__isnull=True, pool__isnull=False)
        .filter(state__in=POOL_STATES)
        .select_related("pool__profile")
        .order_by("pool_id", "created_at", "id")
    )


def standby_counts(pool_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per pool, how many of its servers are in each pool state now (every state named, 0 included)."""
    from django.db.models import Count

    out: dict[int, dict[str, int]] = {pk: {str(s): 0 for s in POOL_STATES} for pk in pool_ids}
    rows = (
        Server.objects.filter(pool_id__in=pool_ids, booking__isnull=True, state__in=POOL_STATES)
        .values("pool_id", "state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        out[row["pool_id"]][row["state"]] = row["n"]
    return out


def _tenure_end(server: Server) -> datetime | None:
    """When a pool row's tenure ended; None while it still holds the server for the pool."""
    if server.state == ServerState.HANDED_OVER:
        return server.held_until or server.updated_at  # handed to a renter (or back to the pool)
    if server.state == ServerState.DELETED:
        return server.deleted_at or server.updated_at
    if server.state in LIVE_STATES:
        return None
    return server.updated_at


def standby_idle_seconds(offering_ids: list[int], since: datetime, until: datetime) -> dict[int, int]:
    """Per offering, the seconds its standby servers spent in the pool within [since, until).

    The owner's cost of the warm pool: every Server row without a booking that belonged to a pool
    counts from its creation (booting or being wiped holds the capacity as much as idling) to the
    end of its tenure (handed to a renter: held_until; deleted: deleted_at; still in the pool: now),
    clipped to the period. Offerings without standby time answer 0.
    """
    out = dict.fromkeys(offering_ids, 0)
    for offering_id, _, start, end in _standby_tenures(offering_ids, since, until):
        out[offering_id] += int((end - start).total_seconds())
    return out


def _standby_tenures(
    offering_ids: list[int], since: datetime, until: datetime
) -> list[tuple[int, int, datetime, datetime]]:
    """(offering, vCPUs, start, end) of each standby server's tenure in the pool, clipped to [since,
    min(until, now)): from its creation to the end of its tenure (``_tenure_end``, now while it lasts)."""
    from django.db.models import Q

    now = clock.now()
    until = min(until, now)
    # A row's tenure never ends after its last update, so rows not updated since the period began
    # ended before it (unless still live).
    rows = (
        Server.objects.filter(offering_id__in=offering_ids, booking__isnull=True, pool__isnull=False)
        .filter(created_at__lt=until)
        .filter(Q(state__in=LIVE_STATES) | Q(updated_at__gte=since))
        .only("offering_id", "vcpus", "state", "created_at", "held_until", "deleted_at", "updated_at")
    )
    out = []
    for server in rows:
        start = max(server.created_at, since)
        end = min(_tenure_end(server) or now, until)
        if end > start and server.offering_id is not None:
            out.append((server.offering_id, server.vcpus, start, end))
    return out


# ---- utilisation of an offering (the owner's chart) ---------------------------------------------

# Bookings that held the offering's capacity at some time: claiming now, or ended after holding it.
HELD_CAPACITY_STATES = (
    BookingState.CONFIRMED,
    BookingState.PROVISIONING,
    BookingState.RUNNING,
    BookingState.NOTICE,
    BookingState.COMPLETED,
    BookingState.RELEASED,
    BookingState.PREEMPTED,
    BookingState.FAILED,
)


def _overlap(a: datetime, b: datetime, start: datetime, end: datetime) -> float:
    return max(0.0, (min(b, end) - max(a, start)).total_seconds())


def offering_utilisation(offering: Offering, buckets: list[tuple[datetime, datetime]]) -> list[dict[str, float]]:
    """Per bucket [start, end), the shares (0-1) of the offering's vCPU capacity that were ``booked``
    (bookings from their start to their end, or to when they ended early), ``standby`` (held by the
    standby servers, ``_standby_tenures``) and ``idle`` (the rest), over the bucket's past part.

    vCPU-seconds over capacity-seconds: 4 vCPUs over 24 h with one booking of 2 vCPUs for 6 h is
    2 × 6 / (4 × 24) = 12.5 % booked. A bucket that has not begun yet is left out.
    """
    now = clock.now()
    buckets = [(a, min(b, now)) for a, b in buckets if a < now]
    if not buckets:
        return []
    since, until = buckets[0][0], max(b for _, b in buckets)
    bookings = [
        (b.starts_at, min(b.ends_at, b.ended_at or b.ends_at), b.vcpus)
        for b in Booking.objects.filter(
            offering=offering, state__in=HELD_CAPACITY_STATES, starts_at__lt=until, ends_at__gt=since
        ).only("starts_at", "ends_at", "ended_at", "vcpus")
    ]
    standby = [(a, b, vcpus) for _, vcpus, a, b in _standby_tenures([offering.pk], since, until)]
    out = []
    for start, end in buckets:
        capacity = offering.vcpus * (end - start).total_seconds()
        booked = sum(v * _overlap(a, b, start, end) for a, b, v in bookings) / capacity
        held = sum(v * _overlap(a, b, start, end) for a, b, v in standby) / capacity
        out.append({"booked": booked, "standby": held, "idle": max(0.0, 1.0 - booked - held)})
    return out


# ---- charts of a booking's usage (the renter's server page) -------------------------------------

USAGE_CHART_POINTS = 60  # the latest intervals charted (and tabled beside the charts)
KIB = 1024

# Each chart of a booking's usage: its name (the JSON's ?metric=), title, y-axis, and its datasets as
# (label, series key, scale): a value is the interval's series[key] / scale per second of the interval,
# or series[key] as it is when scale is None (a level, not a counter's growth).
USAGE_METRICS: dict[str, tuple[str, str, tuple[tuple[str, str, float | None], ...]]] = {
    "cpu": ("CPU", "vCPUs busy", (("CPU", "cpu_load", None),)),
    "memory": ("Memory", "MiB", (("Memory", "memory_mib", None),)),
    "disk": ("Disk", "KiB/s", (("Read", "disk_read_bytes", KIB), ("Written", "disk_write_bytes", KIB))),
    "network": ("Network", "KiB/s", (("In", "net_rx_bytes", KIB), ("Out", "net_tx_bytes", KIB))),
}


def _per_second(interval: dict[str, Any], key: str, scale: float | None) -> float | None:
    value = interval[key]
    if value is None or scale is None:
        return value
    seconds = interval["seconds"]
    return round(value / scale / seconds, 3) if seconds > 0 else None


def usage_chart_rows(usage: dict[str, Any], tz: tzinfo) -> list[dict[str, Any]]:
    """The latest USAGE_CHART_POINTS intervals of ``usage_for_booking``'s series as the charts draw them:
    ``label`` (the interval's end, HH:MM:SS in ``tz``) and one value per dataset of USAGE_METRICS."""
    rows = []
    for interval in usage["series"][-USAGE_CHART_POINTS:]:
        end = datetime.fromisoformat(interval["end"].replace("Z", "+00:00")).astimezone(tz)
        row: dict[str, Any] = {"label": f"{end:%H:%M:%S}", "start": interval["start"], "end": interval["end"]}
        for metric, (_, _, datasets) in USAGE_METRICS.items():
            for label, key, scale in datasets:
                row[f"{metric}_{label.lower()}"] = _per_second(interval, key, scale)
        rows.append(row)
    return rows


def usage_chart(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The chart spec (static/js/charts.js) of one metric of USAGE_METRICS, from ``usage_chart_rows``."""
    title, y_label, datasets = USAGE_METRICS[metric]
    return {
        "type": "line",
        "title": title,
        "labels": [r["label"] for r in rows],
        "datasets": [
            {"label": label, "data": [r[f"{metric}_{label.lower()}"] for r in rows]} for label, _, _ in datasets
        ],
        "y_label": y_label,
    }


UTILISATION_SHARES = (("booked", "Booked"), ("standby", "Standby servers"), ("idle", "Idle"))


def utilisation_chart(labels: list[str], shares: list[dict[str, float]]) -> dict[str, Any]:
    """The stacked bar chart (static/js/charts.js) of ``offering_utilisation``, in percent (1 decimal)."""
    return {
        "type": "bar",
        "stacked": True,
        "labels": labels[: len(shares)],
        "datasets": [
            {"label": label, "data": [round(100 * s[key], 1) for s in shares]} for key, label in UTILISATION_SHARES
        ],
        "y_label": "% of vCPU capacity",
    }
