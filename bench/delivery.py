"""Benchmark: slices delivered to the second. Back-to-back slices of alternating renters on full offerings.

For each case (5-second and 60-second slices, with and without a standby server) one offering with room for
exactly two servers is kept full by alternating renters: without standby two chains of back-to-back slices,
with one standby server (held back from sale) one chain. Every slice is bought through the engine
(scheduling.services.booking_request: billing's funds check and hold, every hook on), so its start and end
steps are the Celery ETA tasks the hooks send; a real Celery worker (-c 8) delivers them on the simulator
(boot 3 s, rebuild 1 s, by default) or, with --nova, on the real Nova of deploy/nova (the four offerings then
fill its compute host exactly: a ninth server would be NoValidHost). No beat runs: the sweeps are backstops
and are not measured.

Figures per case, from the Server rows the worker wrote and the cloud's own view:
  start lag   slice start -> server ACTIVE with the renter's key (0 when it was ready before the start)
  end lag     slice end   -> the renter's access gone (the cloud accepted the rebuild or the delete)
  usable share   seconds the renter held a usable server / seconds paid for
  peak/capacity  most servers seen on the offering's cloud at once (sampled every 0.1 s) / servers it sells
plus the same run's baselines: Redis round trip, Celery worker ping, and the cloud's own rebuild time.
Its last line is the simulator case with standby:

  delivery: start lag p99 <s> s, end lag p99 <s> s, usable share 5s <x>, 60s <x>, peak/capacity <x>

    .venv/bin/python bench/delivery.py [--nova] [--slices5 10] [--slices60 3]

Targets: end lag p99 <= 1 s; start lag p99 <= 1 s beyond the cloud's rebuild time; usable share >= 0.8 (5 s)
and >= 0.97 (60 s); peak/capacity <= 1.00 in every case. Uses its own database (bench_delivery, recreated)
and Redis DB 9 unless REDIS_URL is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_delivery"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
os.environ.setdefault("LOG_LEVEL", "WARNING")
WORKER_ENV = {
    "PROVISIONING_NETWORKS": "none",
    "PROVISIONING_LEAD_SECONDS": "12",
    "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "60",
    "PROVISIONING_LEASE_MARGIN_SECONDS": "5",
    "PROVISIONING_POLL_SECONDS": "0.1",
    "PROVISIONING_TRANSFER_MARGIN_SECONDS": "0.3",
    "SIMULATOR_POLL_SECONDS": "0.05",
    "METERING_INTERVAL_SECONDS": "3600",
    "MARKETPLACE_ALLOW_SIMULATOR": "true",  # the simulator cases (a development driver)
}
os.environ.update({k: v for k, v in WORKER_ENV.items() if k not in os.environ})


def recreate_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Case:
    length: int
    standby: bool
    offering: Any = None
    bookings: list[Any] = field(default_factory=list)
    peak: int = 0

    @property
    def label(self) -> str:
        return f"{self.length:>2}s slices, {'standby 1' if self.standby else 'no standby'}"


class PeakWatcher:
    """Samples the number of servers on each case's cloud (the cloud's own view) every 0.1 s."""

    def __init__(self, count: Any) -> None:
        self.count, self.peaks, self._stop = count, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from django.db import connection

        while not self._stop.wait(0.1):
            try:
                for key, n in self.count().items():
                    self.peaks[key] = max(self.peaks.get(key, 0), n)
            except Exception:  # noqa: BLE001 - a transient error is one sample fewer
                continue
        connection.close()

    def stop(self) -> dict[Any, int]:
        self._stop.set()
        self._thread.join(10)
        return self.peaks


def baselines(worker_app: Any) -> dict[str, float]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    rtts = []
    for _ in range(50):
        t = time.perf_counter()
        client.ping()
        rtts.append(time.perf_counter() - t)
    pings = []
    for _ in range(10):
        t = time.perf_counter()
        worker_app.control.ping(timeout=2, limit=1)  # returns at the first reply
        pings.append(time.perf_counter() - t)
    return {"redis_rtt_ms": percentile(rtts, 50) * 1000, "celery_ping_ms": percentile(pings, 50) * 1000}


def setup_cases(args: argparse.Namespace, project: Any) -> tuple[list[Case], Any]:
    from owners import services as owner_services
    from owners.models import SliceProfile
    from tests import factories

    owner = factories.owner()
    if project is not None:
        # An eighth of the dev Nova's compute host (16 vCPU, 32 GiB): four offerings of two fill it exactly.
        profile = owner_services.profile_create(
            actor=owner,
            name="Eighth",
            vcpus=2,
            ram_mib=4096,
            disk_gb=20,
            bandwidth_mbps=0,
            flavor_name="mkt.bench.eighth",
        )
    else:
        profile = SliceProfile.objects.get(owner=None, name="Small")
    cases = [Case(5, True), Case(60, True), Case(5, False), Case(60, False)]
    for case in cases:
        if project is not None:
            cloud = factories.cloud(
                owner,
                driver="openstack",
                auth_url=project.auth_url,
                app_credential_id=project.credential_id,
                app_credential_secret=project.credential_secret,
            )
            images = [project.image]
        else:
            cloud = factories.cloud(owner, driver="simulator")
            images = ["ubuntu-24.04"]
        res = profile.resources()
        case.offering = factories.offering(
            owner,
            on=cloud,
            publish=False,
            allowed_images=images,
            vcpus=2 * res["vcpus"],
            ram_mib=2 * res["ram_mib"],
            disk_gb=2 * res["disk_gb"],
            bandwidth_mbps=max(1, 2 * res["bandwidth_mbps"]),
            grid_seconds=5,
            min_length_seconds=5,
            max_length_seconds=3600,
        )
        factories.price(owner, case.offering, profile=profile, model="fixed", price_per_unit=10)
        case.offering = owner_services.offering_set_status(actor=owner, offering=case.offering, status="published")
        if case.standby:
            owner_services.standby_pool_set(actor=owner, offering=case.offering, profile=profile, size=1)
    return cases, profile


def book(cases: list[Case], profile: Any, args: argparse.Namespace, t0: Any) -> None:
    from scheduling import services as engine
    from tests import factories
    from tests.provisioning.helpers import add_ssh_key, fund

    for case in cases:
        chains = 1 if case.standby else 2
        count = args.slices5 if case.length == 5 else args.slices60
        for _chain in range(chains):
            people = []
            for _n in range(2):
                renter = factories.renter()
                add_ssh_key(renter)
                fund(renter, 1_000_000)
                people.append(renter)
            for i in range(count):
                start = t0 + timedelta(seconds=i * case.length)
                slice_id = factories.slice_id(case.offering, start, case.length, profile=profile)
                b = engine.booking_request(actor=people[i % 2], slice_id=slice_id)
                assert b.state == "confirmed", (case.label, b.state, b.reason)
                case.bookings.append(b)


def measure(case: Case) -> dict[str, Any]:
    from provisioning.models import Server

    start_lags: list[float] = []
    end_lags: list[float] = []
    held = paid = 0
    lost = 0
    for b in case.bookings:
        rows = list(Server.objects.filter(booking=b).order_by("id"))
        usable = [r.active_at for r in rows if r.active_at is not None and r.held_from is not None]
        if usable:
            start_lags.append(max(0.0, (min(usable) - b.starts_at).total_seconds()))
        else:
            lost += 1
            start_lags.append(float(case.length))
        revoked = [r.revoked_at for r in rows if r.revoked_at is not None]
        if revoked:
            end_lags.append(max(0.0, (max(revoked) - b.ends_at).total_seconds()))
        held += sum(r.seconds_held() for r in rows)
        paid += case.length
    return {
        "start_p50": percentile(start_lags, 50),
        "start_p99": percentile(start_lags, 99),
        "end_p50": percentile(end_lags, 50),
        "end_p99": percentile(end_lags, 99),
        "usable": held / paid if paid else float("nan"),
        "lost": lost,
        "ends_measured": len(end_lags),
        "start": start_lags,
        "end": end_lags,
    }


def run(args: argparse.Namespace, project: Any) -> dict[tuple[int, bool], dict[str, Any]]:
    from django.conf import settings
    from django.db.models import Count

    from marketplace.celery import app
    from marketplace.lib import clock
    from provisioning import services
    from provisioning.models import Server, SimulatedResource
    from scheduling.models import Booking
    from tests.provisioning.worker import Worker, purge_queue, wait_for

    settings.MARKETPLACE_ALLOW_SIMULATOR = True
    if project is not None:
        from tests.provisioning import nova

        nova.allow_in_settings(settings)
    cases, profile = setup_cases(args, project)
    purge_queue()
    env = dict(WORKER_ENV)
    if project is not None:
        from tests.provisioning import nova

        env |= nova.operator_allowances()
        nova.allow_in_settings(settings)
    if project is None:
        env |= {"SIMULATOR_LAUNCH_SECONDS": str(args.boot), "SIMULATOR_REBUILD_SECONDS": str(args.rebuild)}
        env["PROVISIONING_REBUILD_ESTIMATE_SECONDS"] = str(args.rebuild)
    else:
        env["PROVISIONING_REBUILD_ESTIMATE_SECONDS"] = "3"
        # Eight workers asking the dev Nova (one API process on 2 cores) ten times a second each would
        # slow every call, rebuilds included: ask twice a second.
        env["PROVISIONING_POLL_SECONDS"] = os.environ.get("BENCH_NOVA_POLL", "0.5")
    os.environ.update(env)
    for key, value in env.items():
        if key.endswith("_SECONDS"):
            setattr(settings, key, float(value))
    worker = Worker(env=env, concurrency=8, log=Path("/tmp") / f"bench-delivery-worker-{os.getpid()}.log").start()
    try:
        base = baselines(app)
        # Fill the pools first (a standby server is booted ahead, as an owner's pool is before a renter comes).
        for case in cases:
            for pool in case.offering.standby_pools.all():
                services.pool_refill(pool_id=pool.pk)
        clouds = {case.offering.cloud_id: case for case in cases}
        if project is None:

            def count() -> dict[Any, int]:
                rows = SimulatedResource.objects.filter(kind="server", cloud_id__in=list(clouds))
                return dict(rows.values_list("cloud_id").annotate(n=Count("id")).values_list("cloud_id", "n"))
        else:
            names = {case.offering.cloud_id: case for case in cases}

            def count() -> dict[Any, int]:
                by_cloud: dict[Any, int] = {}
                ext = dict(Server.objects.exclude(external_id=None).values_list("external_id", "cloud_id"))
                for s in project.servers():
                    if s.status in ("DELETED", "SOFT_DELETED"):
                        continue
                    cloud_id = ext.get(s.id)
                    by_cloud[cloud_id] = by_cloud.get(cloud_id, 0) + 1
                return {k: v for k, v in by_cloud.items() if k in names}

        watcher = PeakWatcher(count)
        grid = 60
        now = clock.now()
        t0 = now.replace(microsecond=0) + timedelta(seconds=args.warmup)
        t0 = t0 + timedelta(seconds=(grid - t0.second % 5) % 5)
        book(cases, profile, args, t0)
        last_end = max(b.ends_at for case in cases for b in case.bookings)
        ids = [b.pk for case in cases for b in case.bookings]
        wait_for(
            lambda: (
                clock.now() > last_end
                and not Booking.objects.filter(
                    pk__in=ids, state__in=["confirmed", "provisioning", "running", "notice"]
                ).exists()
            ),
            (last_end - clock.now()).total_seconds() + 120,
            "every slice to end",
            interval=0.5,
        )
        wait_for(
            lambda: (
                not Server.objects.filter(booking_id__in=ids).exclude(state__in=["handed_over", "deleted"]).exists()
            ),
            120,
            "every renter's server to be wiped or deleted",
            interval=0.5,
        )
        time.sleep(1)
        peaks = watcher.stop()
        rebuild = services.rebuild_estimate(cases[0].offering.cloud_id)
    finally:
        worker.stop()
    results = {}
    for case in cases:
        figures = measure(case)
        figures["peak"] = peaks.get(case.offering.cloud_id, 0) / 2
        results[(case.length, case.standby)] = figures
    where = (
        "real Nova (deploy/nova)"
        if project is not None
        else f"simulator (boot {args.boot} s, rebuild {args.rebuild} s)"
    )
    print(
        f"{where}: baseline redis rtt {base['redis_rtt_ms']:.2f} ms, celery ping {base['celery_ping_ms']:.1f} ms, "
        f"rebuild measured {rebuild:.2f} s"
    )
    for case in cases:
        f = results[(case.length, case.standby)]
        print(
            f"  {case.label:<26} start lag p50 {f['start_p50']:5.2f} p99 {f['start_p99']:5.2f} s   "
            f"end lag p50 {f['end_p50']:5.2f} p99 {f['end_p99']:5.2f} s   usable share {f['usable']:.3f}   "
            f"peak/capacity {f['peak']:.2f}   ({len(case.bookings)} slices, {f['lost']} never usable, "
            f"{f['ends_measured']} ends)"
        )
    return results


def summary(results: dict[tuple[int, bool], dict[str, Any]]) -> str:
    five, sixty = results[(5, True)], results[(60, True)]
    start = percentile(five["start"] + sixty["start"], 99)
    end = percentile(five["end"] + sixty["end"], 99)
    peak = max(five["peak"], sixty["peak"])
    return (
        f"delivery: start lag p99 {start:.2f} s, end lag p99 {end:.2f} s, usable share 5s {five['usable']:.3f}, "
        f"60s {sixty['usable']:.3f}, peak/capacity {peak:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nova", action="store_true", help="also run every case on the real Nova")
    parser.add_argument("--slices5", type=int, default=10, help="5-second slices per chain")
    parser.add_argument("--slices60", type=int, default=3, help="60-second slices per chain")
    parser.add_argument("--boot", type=float, default=3, help="simulator boot seconds")
    parser.add_argument("--rebuild", type=float, default=1, help="simulator rebuild seconds")
    parser.add_argument("--warmup", type=int, default=20, help="seconds from booking to the first slice")
    args = parser.parse_args()
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        nova_results = None
        if args.nova:
            from tests.provisioning import nova

            reason = nova.unreachable_reason()
            if reason:
                print(f"SKIP --nova: {reason}")
            else:
                project = nova.new_project("mkt-bench-dl")
                nova.admin_connection().compute.update_quota_set(
                    project.project_id, instances=50, cores=64, ram=131072, key_pairs=200
                )
                try:
                    nova_results = run(args, project)
                finally:
                    project.cleanup()
                    flavor = nova.admin_connection().compute.find_flavor("mkt.bench.eighth")
                    if flavor is not None:
                        nova.admin_connection().compute.delete_flavor(flavor, ignore_missing=True)
        sim = run(args, None)
        if nova_results is not None:
            print("nova:    " + summary(nova_results).removeprefix("delivery: "))
        print(summary(sim))
        return 0
    finally:
        import psycopg
        from django.db import connections

        connections.close_all()
        if not os.environ.get("BENCH_KEEP_DB"):
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
