"""Search latency and throughput: GET /api/v1/timeslots with 1,000 offerings and 100,000 bookings.

16 concurrent client processes call the full Django stack in-process (WSGI handler through
django.test.Client, Bearer token authentication, JSON rendering) for random one-hour windows.
Baseline in the same run: pgbench TPC-B-like with the same client count on the same server.

    .venv/bin/python bench/search.py   [BENCH_SECONDS=10 BENCH_CLIENTS=16]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from datetime import UTC, datetime, timedelta

import _common

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
OFFERINGS = int(os.environ.get("BENCH_OFFERINGS", "1000"))
BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "100000"))
DAY0 = datetime(2027, 1, 4, tzinfo=UTC)


def seed() -> str:
    from django.db import connection, transaction

    from accounts.services import api_token_create
    from scheduling.models import Booking

    offers = _common.seed_offerings(OFFERINGS, bandwidth=1000)  # 4 concurrent Smalls each
    people = _common.renters(50)
    small_id = offers[0].pricing_policies.get().profile_id
    rng = random.Random(5)
    rows = []
    # 100 bookings per offering over 7 days, one Small at a time per offering slot of 100 minutes: never over.
    per = BOOKINGS // OFFERINGS
    for o in offers:
        for k in range(per):
            start = DAY0 + timedelta(minutes=100 * k + rng.randrange(0, 40))
            rows.append(
                Booking(
                    renter=people[rng.randrange(50)],
                    offering=o,
                    profile_id=small_id,
                    pricing_model="fixed",
                    state="confirmed",
                    starts_at=start,
                    ends_at=start + timedelta(minutes=rng.choice([5, 15, 60])),
                    vcpus=1,
                    ram_mib=2048,
                    disk_gb=20,
                    bandwidth_mbps=250,
                    grid_seconds=60,
                    currency="USD",
                    unit_price=10,
                    total_price=10,
                )
            )
    with transaction.atomic():
        with connection.cursor() as cur:
            # Seed rows are built to fit (one Small per 100-minute slot); skip the per-row trigger while
            # loading, the invariant is checked over all rows at the end instead.
            cur.execute("SET LOCAL session_replication_role = replica")
        Booking.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    _, raw = api_token_create(actor=people[0], name="bench")
    return raw


def _client(i: int, token: str, stop_at: float, out) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test import Client

    connection.close()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    rng = random.Random(i)
    lat: list[float] = []
    errors = 0
    warm_until = stop_at - SECONDS
    while time.time() < stop_at:
        measuring = time.time() >= warm_until
        start = DAY0 + timedelta(hours=rng.randrange(0, 7 * 24 - 1))
        url = (
            f"/api/v1/timeslots?cpu=1&ram=2&start={start:%Y-%m-%dT%H:%M:%SZ}"
            f"&end={start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}&duration=600"
        )
        t = time.perf_counter()
        r = client.get(url)
        if not measuring:  # warm-up: imports, URL resolver, connection; not measured
            continue
        lat.append(time.perf_counter() - t)
        if r.status_code != 200 or not r.json()["results"]:
            errors += 1
    connection.close()
    out.put((lat, errors))


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    _common.setup_django()
    try:
        from django.db import connections

        from scheduling import hooks

        t0 = time.perf_counter()
        token = seed()
        print(
            f"search benchmark: {OFFERINGS} offerings, {BOOKINGS} bookings (seeded in {time.perf_counter() - t0:.0f} s), "
            f"{CLIENTS} clients, {SECONDS:.0f} s"
        )
        connections.close_all()
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        begin = time.time() + 4.0  # start-up and warm-up of the client processes
        with hooks.isolated():
            procs = [ctx.Process(target=_client, args=(i, token, begin + SECONDS, out)) for i in range(CLIENTS)]
            for p in procs:
                p.start()
            results = [out.get() for _ in procs]
            for p in procs:
                p.join()
        lat = [x for r in results for x in r[0]]
        errors = sum(r[1] for r in results)
        elapsed = time.time() - begin
        print(
            f"  GET /api/v1/timeslots: {len(lat) / elapsed:,.0f} requests/s, p50 {_common.percentile(lat, 50) * 1000:.1f} ms, "
            f"p99 {_common.percentile(lat, 99) * 1000:.1f} ms (target p99 < 50 ms); {errors} errors/empty"
        )
        from tests_free_invariant import overbooked

        print(f"  overbooked offerings in the data set: {len(overbooked())}")
        tps = _common.pgbench(CLIENTS, int(SECONDS))
        print(f"  baseline pgbench TPC-B-like, {CLIENTS} clients, -j 2: {tps:,.0f} TPS")
    finally:
        _common.teardown()


if __name__ == "__main__":
    main()
