"""Booking throughput through the service layer, 16 parallel clients, beside pgbench on the same server.

Two runs: requests spread over 100 offerings, and all on one hot offering. Each
client is a process (own interpreter, own connection); each request is a real booking_request (record, lock the offering, SQL peak check,
confirm or reject, audit) in its own transaction and connection per client.
At the end the capacity invariant is checked over every row (zero overbooking).

    .venv/bin/python bench/booking.py   [BENCH_SECONDS=10 BENCH_CLIENTS=16]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from datetime import UTC, datetime

import _common

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))


def _client(i: int, offer_ids: list[int], renter_id: int, small_id: int, stop_at: float, out) -> None:  # type: ignore[no-untyped-def]
    """One client process: its own interpreter and PostgreSQL connection, requests until stop_at."""
    from django.db import connection

    from accounts.models import User
    from marketplace.lib.errors import ConflictError
    from scheduling import hooks, services
    from scheduling.slices import SliceKey

    connection.close()
    actor = User.objects.get(pk=renter_id)
    rng = random.Random(i)
    base = int(datetime(2027, 1, 4, tzinfo=UTC).timestamp())
    ok = taken = 0
    warm_until = stop_at - SECONDS
    with hooks.isolated():  # the engine alone: no billing funds check
        while time.time() < stop_at:
            measuring = time.time() >= warm_until
            start = base + 60 * rng.randrange(0, 7 * 24 * 60)
            key = SliceKey(offer_ids[rng.randrange(len(offer_ids))], small_id, start, 60 * rng.choice([1, 5, 15, 60]))
            try:
                services.booking_request(actor=actor, slice_id=key)
                ok += measuring
            except ConflictError:
                taken += measuring
    connection.close()
    out.put((ok, taken))


def run(offers: list, people: list, label: str) -> tuple[float, int, int]:
    from django.db import connections

    small_id = offers[0].pricing_policies.get().profile_id
    offer_ids = [o.pk for o in offers]
    connections.close_all()  # children open their own
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    begin = time.time() + 3.0  # start-up and warm-up of every client process before the clock runs
    stop_at = begin + SECONDS
    procs = [
        ctx.Process(target=_client, args=(i, offer_ids, people[i].pk, small_id, stop_at, out)) for i in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    ok = sum(r[0] for r in results)
    taken = sum(r[1] for r in results)
    elapsed = time.time() - begin
    rps = (ok + taken) / elapsed
    print(f"  {label:<28} {rps:8.0f} requests/s  ({ok} confirmed, {taken} taken, {elapsed:.1f} s)")
    return rps, ok, taken


def main() -> None:
    _common.setup_django()
    try:
        from django.db import connection

        # Capacity: 64 vCPU / 1000 Mbit/s -> 4 concurrent Smalls per offering (bandwidth 250 each), so some
        # requests are refused and the invariant is exercised.
        spread = _common.seed_offerings(100, bandwidth=1000)
        hot = _common.seed_offerings(1, bandwidth=1000, price_seed=2)
        people = _common.renters(CLIENTS)
        print(f"booking benchmark: {CLIENTS} clients, {SECONDS:.0f} s per run, PostgreSQL on this machine")
        spread_rps, *_ = run(spread, people, "spread over 100 offerings")
        hot_rps, *_ = run(hot, people, "one hot offering")
        connection.close()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM owners_offering o, scheduling_offering_peak(o.id, '-infinity', 'infinity') p "
                "WHERE p.vcpus > o.vcpus OR p.ram_mib > o.ram_mib OR p.disk_gb > o.disk_gb "
                "OR p.bandwidth_mbps > o.bandwidth_mbps"
            )
            over = cur.fetchone()[0]
            cur.execute("SELECT state, count(*) FROM scheduling_booking GROUP BY state ORDER BY state")
            states = dict(cur.fetchall())
        from tests_free_invariant import overbooked  # type: ignore[import-not-found]

        independent = overbooked()
        connection.close()
        print(f"  bookings by state: {states}")
        print(f"  overbooked offerings (engine SQL): {over}; independent row check: {len(independent)}")
        tps = _common.pgbench(CLIENTS, int(SECONDS))
        print(f"  baseline pgbench TPC-B-like, {CLIENTS} clients, -j 2: {tps:8.0f} TPS")
        print(f"  spread / pgbench = {spread_rps / tps:.2f} (target >= 0.25); hot / pgbench = {hot_rps / tps:.2f}")
    finally:
        _common.teardown()


if __name__ == "__main__":
    main()
