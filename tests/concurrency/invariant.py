"""An independent check of the capacity invariant, straight from the rows (not the engine's SQL function)."""

from __future__ import annotations

from django.db import connection

CLAIMING = ("confirmed", "provisioning", "running", "notice")


def overbooked_offerings() -> list[tuple[int, str, int, int]]:
    """(offering, instant, used, capacity) for every resource over capacity at some claim's start; [] is good."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT offering_id, starts_at, ends_at, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_booking "
            "WHERE state = ANY(%s)",
            [list(CLAIMING)],
        )
        claims = cur.fetchall()
        cur.execute("SELECT id, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM owners_offering")
        caps = {row[0]: row[1:] for row in cur.fetchall()}
    bad = []
    for offering_id, start, _end, *_ in claims:
        used = [0, 0, 0, 0]
        for o2, s2, e2, *res in claims:
            if o2 == offering_id and s2 <= start < e2:
                used = [u + r for u, r in zip(used, res, strict=True)]
        for i, name in enumerate(("vcpus", "ram_mib", "disk_gb", "bandwidth_mbps")):
            if used[i] > caps[offering_id][i]:
                bad.append((offering_id, f"{start.isoformat()} {name}", used[i], caps[offering_id][i]))
    return bad
