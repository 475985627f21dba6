"""The capacity invariant checked from the rows in Python (independent of the engine's SQL)."""

from __future__ import annotations

from collections import defaultdict


def overbooked() -> list[tuple[int, str]]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT id, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM owners_offering")
        caps = {r[0]: r[1:] for r in cur.fetchall()}
        cur.execute(
            "SELECT offering_id, starts_at, ends_at, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_booking "
            "WHERE state IN ('confirmed', 'provisioning', 'running', 'notice')"
        )
        events: dict[int, list] = defaultdict(list)
        for o, s, e, *res in cur.fetchall():
            events[o].append((s, 1, res))
            events[o].append((e, -1, res))
    bad = []
    for o, evs in events.items():
        evs.sort(key=lambda x: (x[0], x[1]))  # ends (-1) before starts (+1) at the same instant: half-open
        used = [0, 0, 0, 0]
        for at, sign, res in evs:
            used = [u + sign * r for u, r in zip(used, res, strict=True)]
            if any(u > c for u, c in zip(used, caps[o], strict=True)):
                bad.append((o, at.isoformat()))
    return bad
