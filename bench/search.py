"""Search latency and throughput: GET /api/v1/timeslots with 1,000 offerings and 100,000 bookings.

16 concurrent client processes call the full Django stack (Bearer token authentication, DRF,
JSON rendering) for random one-hour windows, in one of two set-ups:

- ``BENCH_SERVER=gunicorn`` (default): the set-up of deploy/run.sh, ``gunicorn --workers <cores>
  --threads 1`` (sync workers; ``BENCH_WORKERS``, ``BENCH_THREADS``, ``BENCH_WORKER_CLASS`` and
  ``BENCH_GUNICORN_ARGS`` to try others), DEBUG off, persistent database connections
  (``BENCH_CONN_MAX_AGE``, default 60 as deploy/run.sh), over HTTP/1.1 to the 16 client processes
  (sync workers answer one request per connection: the clients send ``Connection: close`` and read
  to the end of the response, a minimal HTTP/1.1 client; with threads they keep connections alive).
- ``BENCH_SERVER=inprocess``: each client process runs the WSGI handler itself through
  django.test.Client: 16 single-threaded app processes on the machine's cores, no HTTP.

Baseline in the same run: pgbench TPC-B-like with the same client count on the same server.

    .venv/bin/python bench/search.py   [BENCH_SECONDS=10 BENCH_CLIENTS=16 BENCH_SERVER=inprocess]
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import random
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import _common
import orjson

# One token sends hundreds of requests a second here: the per-token API rate (1200/min) would turn them into
# 429s, so the benchmark measures the search with the rate off (the server it starts inherits this).
os.environ.setdefault("MARKETPLACE_API_RATE_TOKEN", "off")
os.environ.setdefault("MARKETPLACE_API_RATE_ANON", "off")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
OFFERINGS = int(os.environ.get("BENCH_OFFERINGS", "1000"))
BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "100000"))
SERVER = os.environ.get("BENCH_SERVER", "gunicorn")
WORKERS = os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2))
THREADS = os.environ.get("BENCH_THREADS", "1")
SYNC_WORKERS = THREADS == "1" and os.environ.get("BENCH_WORKER_CLASS", "sync") == "sync"  # gunicorn's default then
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
        # A settled database, as in production: without this, autovacuum's first pass over the 100,000
        # fresh rows (visibility map, hint bits) lands in the measured seconds.
        cur.execute("VACUUM (ANALYZE)")
    _, raw = api_token_create(actor=people[0], name="bench")
    return raw


def _url(rng: random.Random) -> str:
    start = DAY0 + timedelta(hours=rng.randrange(0, 7 * 24 - 1))
    return (
        f"/api/v1/timeslots?cpu=1&ram=2&start={start:%Y-%m-%dT%H:%M:%SZ}"
        f"&end={start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}&duration=600"
    )


def _client(i: int, token: str, stop_at: float, seconds: float, out, port: int | None = None) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    connection.close()
    if port is None:
        from django.test import Client

        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

        def get(url: str) -> tuple[int, bytes]:
            r = client.get(url)
            return r.status_code, r.content
    elif SYNC_WORKERS:
        # Sync workers answer one request per connection and close it: a minimal HTTP/1.1 client
        # (connect, send, read to the end) keeps the load generator's share of the two cores small.
        head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"

        def get(url: str) -> tuple[int, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(f"GET {url} HTTP/1.1\r\n{head}".encode())
                chunks = []
                while chunk := s.recv(262144):
                    chunks.append(chunk)
            status_line, _, rest = b"".join(chunks).partition(b"\r\n")
            fields = status_line.split()
            status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0  # 0: no valid answer
            return status, rest.partition(b"\r\n\r\n")[2]
    else:  # threaded workers keep connections alive
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}

        def get(url: str) -> tuple[int, bytes]:
            conn.request("GET", url, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()

    rng = random.Random(i)
    lat: list[float] = []
    errors = 0
    cpu = 0.0
    warm_until = stop_at - seconds
    while time.time() < stop_at:
        measuring = time.time() >= warm_until
        url = _url(rng)
        c, t = time.process_time(), time.perf_counter()
        status, body = get(url)
        if not measuring:  # warm-up: imports, URL resolver, connection, catalogue; not measured
            continue
        lat.append(time.perf_counter() - t)
        cpu += time.process_time() - c
        try:
            if status != 200 or not orjson.loads(body)["results"]:
                errors += 1
        except (ValueError, KeyError, TypeError):  # not the JSON page it should be
            errors += 1
    connection.close()
    out.put((lat, errors, cpu))


def _gunicorn() -> tuple[subprocess.Popen, int]:
    """The app as deploy/run.sh serves it (sync workers unless told), DEBUG off, on the bench database."""
    return _common.start_gunicorn(
        WORKERS, THREADS, os.environ.get("BENCH_WORKER_CLASS", ""), os.environ.get("BENCH_GUNICORN_ARGS", "")
    )


def _run(clients: int, seconds: float, token: str, port: int | None) -> tuple[list[float], int, float, float]:
    """``clients`` client processes for ``seconds`` after a warm-up: latencies, errors, client CPU, elapsed."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    begin = time.time() + 4.0  # start-up and warm-up of the client processes
    procs = [ctx.Process(target=_client, args=(i, token, begin + seconds, seconds, out, port)) for i in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    lat = [x for r in results for x in r[0]]
    return lat, sum(r[1] for r in results), sum(r[2] for r in results), seconds


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
        server, port = _gunicorn() if SERVER == "gunicorn" else (None, None)
        where = (
            f"gunicorn --workers {WORKERS} --threads {THREADS} {os.environ.get('BENCH_WORKER_CLASS', '')}"
            f"{os.environ.get('BENCH_GUNICORN_ARGS', '')}, "
            f"CONN_MAX_AGE={os.environ.get('BENCH_CONN_MAX_AGE', '60')}"
            if SERVER == "gunicorn"
            else "in-process django.test.Client, one app process per client"
        )
        print(f"  server: {where}")
        try:
            with hooks.isolated():
                # One client first: the service time of a request on an otherwise idle server, and the
                # CPU it costs the client process (with the in-process server: the whole app's CPU).
                for clients, seconds in ((1, min(SECONDS, 5.0)), (CLIENTS, SECONDS)):
                    lat, errors, cpu, elapsed = _run(clients, seconds, token, port)
                    print(
                        f"  GET /api/v1/timeslots, {clients:>2} client{'s' if clients > 1 else ' '}: "
                        f"{len(lat) / elapsed:,.0f} requests/s, p50 {_common.percentile(lat, 50) * 1000:.1f} ms, "
                        f"p99 {_common.percentile(lat, 99) * 1000:.1f} ms, client CPU {cpu / max(len(lat), 1) * 1000:.2f} ms"
                        f"/request; {errors} errors/empty" + ("  (target p99 < 50 ms)" if clients > 1 else "")
                    )
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
        from tests_free_invariant import overbooked

        print(f"  overbooked offerings in the data set: {len(overbooked())}")
        tps = _common.pgbench(CLIENTS, int(SECONDS))
        print(f"  baseline pgbench TPC-B-like, {CLIENTS} clients, -j 2: {tps:,.0f} TPS")
    finally:
        _common.teardown()


if __name__ == "__main__":
    main()
