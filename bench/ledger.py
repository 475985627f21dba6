"""Ledger posting throughput: a booking charge with its fee split, from N parallel clients, beside pgbench.

    .venv/bin/python bench/ledger.py [--clients 16] [--seconds 10] [--pg-url postgres://postgres@127.0.0.1:5432]

It creates two scratch databases (bench_ledger, bench_pgbench), migrates the
project into the first, posts charges from --clients processes for --seconds
(each posting: one LedgerTransaction and four entries — renter holds, renter
balance, owner payable, platform fee — checked balanced by the deferred
PostgreSQL trigger at every commit), then runs pgbench's TPC-B-like workload
with the same client count and duration on the same server as a baseline,
and finally checks that every transaction in the ledger sums to zero.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRICE, CHARGE = 1000, 250


def _admin(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def setup(db_url: str, clients: int) -> list[tuple[int, int]]:
    from django.core.management import call_command

    _django(db_url)
    call_command("migrate", verbosity=0)
    from accounts.models import User
    from billing import ledger

    pairs = []
    for i in range(clients):
        renter = User.objects.create_user(f"bench-renter-{i}@example.test", is_renter=True)
        owner = User.objects.create_user(f"bench-owner-{i}@example.test", is_owner=True, is_renter=False)
        ledger.post_transaction(
            kind="topup",
            idempotency_key=f"bench-fund-{i}",
            lines=[
                (ledger.account("stripe_clearing", "USD"), 10**12),
                (ledger.account("renter_balance", "USD", renter), -(10**12)),
            ],
        )
        ledger.account("renter_holds", "USD", renter)
        ledger.account("owner_payable", "USD", owner)
        pairs.append((renter.pk, owner.pk))
    ledger.account("platform_fees", "USD")
    return pairs


def client(
    db_url: str, index: int, renter_id: int, owner_id: int, seconds: float, ready: mp.Queue, go, out: mp.Queue
) -> None:  # type: ignore[no-untyped-def]
    _django(db_url)
    from django.db import transaction

    from accounts.models import User
    from billing import ledger
    from billing.charges import platform_fee

    renter, owner = User.objects.get(pk=renter_id), User.objects.get(pk=owner_id)
    holds = ledger.account("renter_holds", "USD", renter)
    balance = ledger.account("renter_balance", "USD", renter)
    payable = ledger.account("owner_payable", "USD", owner)
    fees = ledger.account("platform_fees", "USD")
    fee = platform_fee(CHARGE)
    latencies = []
    n = 0
    ledger.balance(fees)  # connect and warm up before the clock starts
    ready.put(index)
    go.wait()
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        with transaction.atomic():
            ledger.post_transaction(
                kind="charge",
                idempotency_key=f"bench-{index}-{n}",
                booking_id=n,
                lines=[(holds, PRICE), (balance, -(PRICE - CHARGE)), (payable, -(CHARGE - fee)), (fees, -fee)],
            )
        latencies.append(time.perf_counter() - t0)
        n += 1
    out.put((n, latencies))


def pgbench(pg_url: str, clients: int, seconds: int) -> tuple[float, str]:
    _admin(pg_url, "DROP DATABASE IF EXISTS bench_pgbench")
    _admin(pg_url, "CREATE DATABASE bench_pgbench")
    target = pg_url + "/bench_pgbench"
    subprocess.run(["pgbench", "-i", "-q", "-s", str(max(clients, 1)), target], check=True, capture_output=True)
    result = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds), target],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    return (float(match.group(1)) if match else float("nan")), result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()

    db_url = args.pg_url + "/bench_ledger"
    _admin(args.pg_url, "DROP DATABASE IF EXISTS bench_ledger")
    _admin(args.pg_url, "CREATE DATABASE bench_ledger")
    t0 = time.time()
    pairs = setup(db_url, args.clients)
    print(f"setup: migrated and funded {args.clients} renters in {time.time() - t0:.1f}s")

    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    ready: mp.Queue = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=client, args=(db_url, i, r, o, args.seconds, ready, go, out))
        for i, (r, o) in enumerate(pairs)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()  # every client connected and loaded
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    total = sum(n for n, _ in results)
    lat = sorted(x for _, ls in results for x in ls)
    tps = total / args.seconds
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan")
    print(
        f"ledger: {total} charge postings in {args.seconds}s from {args.clients} clients = {tps:.0f} postings/s "
        f"({tps * 4:.0f} entries/s); latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )

    pg_tps, _ = pgbench(args.pg_url, args.clients, args.seconds)
    print(f"pgbench (TPC-B-like, {args.clients} clients, {args.seconds}s, same server): {pg_tps:.0f} tps")
    print(f"ratio ledger/pgbench: {tps / pg_tps:.2f}")

    from billing import ledger
    from billing.models import LedgerEntry, LedgerTransaction

    unbalanced = ledger.unbalanced_transactions()
    trial = ledger.trial_balance()
    txns = LedgerTransaction.objects.filter(kind="charge").count()
    print(
        f"check: {txns} charge transactions ({LedgerEntry.objects.count()} entries in all), "
        f"unbalanced transactions: {len(unbalanced)}, trial balance per currency: {trial}"
    )
    ok = not unbalanced and all(v == 0 for v in trial.values()) and txns == total
    connections.close_all()
    if not args.keep:
        _admin(args.pg_url, "DROP DATABASE IF EXISTS bench_ledger")
        _admin(args.pg_url, "DROP DATABASE IF EXISTS bench_pgbench")
    print("BALANCED" if ok else "NOT BALANCED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
