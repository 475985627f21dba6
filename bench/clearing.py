"""Auction clearing throughput: 100,000 bids over 1,000 offerings, cleared by the service; bids per second.

Baseline in the same run: the same bids fetched with one query, sorted and allocated in pure Python
(no writes) — the floor any clearing implementation on this stack pays.

    .venv/bin/python bench/clearing.py   [BENCH_OFFERINGS=1000 BENCH_BIDS=100000 BENCH_WORKERS=2]

Workers are processes calling the same service concurrently (as two Celery workers would); rounds
are shared out by SKIP LOCKED, the result is one clearing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from datetime import UTC, datetime, timedelta

import _common

OFFERINGS = int(os.environ.get("BENCH_OFFERINGS", "1000"))
BIDS = int(os.environ.get("BENCH_BIDS", "100000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
START = datetime(2027, 1, 4, 10, tzinfo=UTC)


def seed() -> None:
    from django.db import connection, transaction

    from scheduling.models import AuctionRound, Booking

    # Room for 25 concurrent Smalls per offering (bandwidth 25 × 250): about a quarter of the bids win.
    offers = _common.seed_offerings(OFFERINGS, model="auction", bandwidth=25 * 250, vcpus=64, ram_mib=262144)
    people = _common.renters(200)
    small_id = offers[0].pricing_policies.get().profile_id
    rng = random.Random(3)
    rounds = AuctionRound.objects.bulk_create(
        [
            AuctionRound(
                offering=o,
                profile_id=small_id,
                starts_at=START + timedelta(minutes=10 * k),
                ends_at=START + timedelta(minutes=10 * k + 30),
                closes_at=START - timedelta(minutes=5),
                currency="USD",
                reserve_price=10,
                clearing_rule=o.pricing_policies.all()[0].clearing_rule,
            )
            for o in offers
            for k in range(2)
        ]
    )
    rows = []
    for i in range(BIDS):
        r = rounds[i % len(rounds)]
        rows.append(
            Booking(
                renter=people[(i // len(rounds)) % len(people)],
                offering_id=r.offering_id,
                profile_id=small_id,
                pricing_model="auction",
                state="requested",
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                vcpus=1,
                ram_mib=2048,
                disk_gb=20,
                bandwidth_mbps=250,
                grid_seconds=60,
                currency="USD",
                auction_round=r,
                bid_amount=rng.randint(10, 500),
                bid_sequence=i,
            )
        )
    with transaction.atomic():
        Booking.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def baseline() -> float:
    """Fetch, rank and allocate every bid in Python, with no writes."""
    from collections import defaultdict

    from scheduling.models import Booking

    began = time.perf_counter()
    rows = list(
        Booking.objects.filter(state="requested").values_list(
            "id", "offering_id", "auction_round_id", "bid_amount", "bid_sequence", "bandwidth_mbps"
        )
    )
    by_offering: dict[int, list] = defaultdict(list)
    for r in rows:
        by_offering[r[1]].append(r)
    winners = 0
    for bids in by_offering.values():
        bids.sort(key=lambda b: (-b[3], b[4]))
        used: dict[int, int] = defaultdict(int)
        for b in bids:
            if used[b[2]] + b[5] <= 25 * 250:
                used[b[2]] += b[5]
                winners += 1
    return len(rows) / (time.perf_counter() - began)


def _worker(i: int, n: int, out) -> None:  # type: ignore[no-untyped-def]
    """One clearing worker process (as Celery would run several), its own connection."""
    from django.db import connection

    from scheduling import hooks, services

    connection.close()
    with hooks.isolated():
        r = services.auctions_clear_due(now=START - timedelta(minutes=4), worker=(i, n))
    connection.close()
    out.put((r.rounds, r.bids, r.winners))


def main() -> None:
    _common.setup_django()
    try:
        from tests_free_invariant import overbooked

        from scheduling import hooks, services

        t0 = time.perf_counter()
        seed()
        print(
            f"clearing benchmark: {BIDS} bids over {OFFERINGS} offerings ({2 * OFFERINGS} rounds), "
            f"seeded in {time.perf_counter() - t0:.1f} s"
        )
        base = baseline()
        from django.db import connections

        connections.close_all()
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        began = time.perf_counter()
        procs = [ctx.Process(target=_worker, args=(i, WORKERS, out)) for i in range(WORKERS)]
        for p in procs:
            p.start()
        parts = [out.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - began
        rounds, bids, winners = (sum(x[k] for x in parts) for k in range(3))
        with hooks.isolated():
            again = services.auctions_clear_due(now=START - timedelta(minutes=4))
        print(
            f"  {WORKERS} clearing worker(s): {rounds} rounds, {bids} bids, {winners} winners in {elapsed:.2f} s: "
            f"{bids / elapsed:,.0f} bids/s (target >= 20,000)"
        )
        print(f"  second run (idempotent): {again.rounds} rounds, {again.bids} bids")
        print(f"  baseline (fetch + sort + allocate in Python, no writes): {base:,.0f} bids/s")
        print(f"  overbooked offerings after clearing: {len(overbooked())}")
    finally:
        _common.teardown()


if __name__ == "__main__":
    main()
