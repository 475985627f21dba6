"""Benchmark: servers launched and reclaimed per minute through the marketplace, beside direct openstacksdk.

Needs the real Nova of deploy/nova/start.sh, PostgreSQL and Redis. In one run:

1. direct: N servers, C at a time, with plain openstacksdk calls doing the same cloud work the
   engine does for a booking (key pair, security group with its rules, server with metadata and
   tags, wait ACTIVE; then delete the server, wait until gone, delete the key pair and group);
2. engine: N confirmed bookings, launched by a real Celery worker (-c C) through
   provisioning.tasks.launch_booking (the task the engine's on_booking_confirmed hook sends),
   each released through scheduling.services.booking_release as soon as it runs (its
   on_booking_ended hook sends the reclaim); at most C bookings in flight, like the direct pool;
   the figure counts from the first launch sent to the last server deleted;
3. orphans: the reconciler runs, then every server left in the bench's own Keystone project is counted.

    .venv/bin/python bench/provisioning.py [--servers 20] [--concurrency 4] [--rounds 3]

Uses a database of its own (bench_provisioning, recreated) and Redis DB 8 unless REDIS_URL is set.
Target: engine >= 0.9 x direct, 0 orphans.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_provisioning"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
os.environ.setdefault("PROVISIONING_NETWORKS", "none")
os.environ.setdefault("PROVISIONING_POLL_SECONDS", "0.5")
os.environ.setdefault("LOG_LEVEL", "WARNING")
from tests.provisioning.nova import operator_allowances  # noqa: E402 - before Django reads its settings

for _key, _value in operator_allowances().items():  # plain http to the local Nova (development allowance)
    os.environ.setdefault(_key, _value)
POLL = float(os.environ["PROVISIONING_POLL_SECONDS"])


def recreate_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def direct_round(project, n: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds for n servers through plain openstacksdk, the same cloud work as the engine."""
    from tests.provisioning.helpers import ED25519

    conn = project.conn
    flavor = conn.compute.find_flavor("m1.small") or conn.compute.create_flavor(
        name="m1.small", vcpus=1, ram=2048, disk=20
    )
    image = conn.image.find_image(project.image)

    def one(i: int) -> None:
        name = f"direct-{uuid.uuid4().hex[:8]}"
        conn.compute.create_keypair(name=name, public_key=ED25519)
        sg = conn.network.create_security_group(name=name, description="bench")
        for rule in (
            {
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "ethertype": "IPv4",
                "remote_ip_prefix": "0.0.0.0/0",
            },
            {
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "ethertype": "IPv6",
                "remote_ip_prefix": "::/0",
            },
            {"protocol": "icmp", "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0"},
        ):
            conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", **rule)
        server = conn.compute.create_server(
            name=name,
            flavor_id=flavor.id,
            image_id=image.id,
            networks="none",
            key_name=name,
            security_groups=[{"name": name}],
            metadata={"bench": "direct"},
            tags=["bench-direct"],
        )
        conn.compute.wait_for_server(server, status="ACTIVE", interval=POLL, wait=300)
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, interval=POLL, wait=300)
        conn.compute.delete_keypair(name, ignore_missing=True)
        conn.network.delete_security_group(sg, ignore_missing=True)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(n)))
    return time.monotonic() - t0


class EngineSide:
    """The marketplace side: one owner, cloud and offering on the bench project, one real Celery worker."""

    def __init__(self, project, concurrency: int):  # type: ignore[no-untyped-def]
        from owners import services as owner_services
        from provisioning import tasks
        from tests import factories
        from tests.provisioning.worker import Worker, purge_queue

        self.concurrency = concurrency
        owner = factories.owner()
        cloud = owner_services.cloud_create(
            actor=owner,
            name="bench",
            driver="openstack",
            auth_url=project.auth_url,
            app_credential_id=project.credential_id,
            app_credential_secret=project.credential_secret,
        )
        self.offering = factories.offering(
            owner,
            on=cloud,
            publish=True,
            allowed_images=[project.image],
            vcpus=256,
            ram_mib=1024 * 1024,
            disk_gb=20000,
            bandwidth_mbps=1_000_000,
        )
        purge_queue()
        self.worker = Worker(
            env={"PROVISIONING_NETWORKS": "none", "PROVISIONING_POLL_SECONDS": str(POLL), "LOG_LEVEL": "WARNING"},
            concurrency=concurrency,
            log=Path("/tmp") / f"bench-provisioning-worker-{os.getpid()}.log",
        ).start()
        # The reconciler visits the cloud (compute and network), which opens each worker process's connection,
        # as the direct side's connection is open before it is timed.
        for _ in range(concurrency * 2):
            tasks.reconcile.delay()
        time.sleep(3)

    def stop(self) -> None:
        self.worker.stop()

    def round(self, n: int) -> float:
        """Seconds for n bookings: launched, running, released, reclaimed; at most `concurrency` in flight."""
        from marketplace.lib import clock
        from provisioning import tasks
        from provisioning.models import Server
        from scheduling import services as engine
        from scheduling.models import Booking
        from tests import factories
        from tests.provisioning.helpers import add_ssh_key, booking

        renters = [factories.renter() for _ in range(n)]
        for r in renters:
            add_ssh_key(r)
        start = clock.now() - timedelta(seconds=5)
        bookings = [booking(r, self.offering, starts_at=start, seconds=3600) for r in renters]
        ids = [b.pk for b in bookings]
        renter_of = {b.pk: b.renter for b in bookings}
        # Like the direct pool, at most `concurrency` bookings are in flight (launched, not yet reclaimed):
        # a new slice starts when one ends. Each booking is released as soon as it runs (the engine's
        # on_booking_ended hook sends the reclaim).
        t0 = time.monotonic()
        pending = list(ids)
        in_flight: set[int] = set()
        released: set[int] = set()
        done: set[int] = set()
        deadline = time.monotonic() + 900
        while len(done) < n:
            while pending and len(in_flight) < self.concurrency:
                pk = pending.pop(0)
                tasks.launch_booking.delay(pk)  # what the engine's on_booking_confirmed hook sends
                in_flight.add(pk)
            rows = Booking.objects.filter(pk__in=in_flight).values_list("pk", "state", "reason")
            gone = (
                set(
                    Server.objects.filter(booking_id__in=released - done, state="deleted").values_list(
                        "booking_id", flat=True
                    )
                )
                if released - done
                else set()
            )
            for pk, state, reason in rows:
                if state == "running" and pk not in released:
                    engine.booking_release(actor=renter_of[pk], booking_id=pk)
                    released.add(pk)
                elif state == "failed" or time.monotonic() > deadline:
                    raise SystemExit(f"launch of booking {pk} failed or timed out: {state} {reason}")
            done |= gone
            in_flight -= gone
            time.sleep(0.05)
        return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/engine rounds")
    args = parser.parse_args()

    from tests.provisioning import nova

    reason = nova.unreachable_reason()
    if reason:
        print(f"SKIP: {reason}")
        return 2
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    project = nova.new_project("mkt-bench")
    # Both sides run many servers, key pairs and groups: lift the project's default quotas (10 instances,
    # 20 cores, 10 security groups) so the figures measure speed, not quota refusals.
    admin = nova.admin_connection()
    admin.compute.update_quota_set(project.project_id, instances=200, cores=400, ram=800_000, key_pairs=500)
    admin.network.update_quota(project.project_id, security_groups=500, security_group_rules=5000)
    side = None
    try:
        side = EngineSide(project, args.concurrency)
        direct_total = engine_total = 0.0
        print(
            f"servers={args.servers} x rounds={args.rounds} concurrency={args.concurrency} poll={POLL}s "
            f"nova=real (deploy/nova: Keystone, Nova API/conductor/scheduler/compute with the fake virt driver)"
        )
        # Alternate the two sides so a busy machine weighs on both alike.
        for r in range(args.rounds):
            d = direct_round(project, args.servers, args.concurrency)
            e = side.round(args.servers)
            direct_total += d
            engine_total += e
            print(
                f"  round {r + 1}: direct {d:6.1f} s ({args.servers / d * 60:5.1f}/min)   "
                f"engine {e:6.1f} s ({args.servers / e * 60:5.1f}/min)   ratio {d / e:.2f}"
            )
        side.stop()
        side = None
        from provisioning import services

        before = project.servers()  # every booking was reclaimed: anything here is an orphan
        services.reconcile()
        left = project.servers()
        total = args.servers * args.rounds
        direct_rate = total / direct_total * 60
        engine_rate = total / engine_total * 60
        print(f"direct openstacksdk : {direct_rate:6.1f} servers launched+reclaimed/min")
        print(f"engine (celery)     : {engine_rate:6.1f} servers launched+reclaimed/min")
        ratio = engine_rate / direct_rate
        print(f"engine / direct     : {ratio:.2f}   (target >= 0.90) {'OK' if ratio >= 0.9 else 'BELOW TARGET'}")
        print(
            f"orphans after run   : {len(before)} before the reconciler, {len(left)} after   (target 0) "
            f"{'OK' if not before else [s.name for s in before]}"
        )
        return 0 if ratio >= 0.9 and not before else 1
    finally:
        if side is not None:
            side.stop()
        project.cleanup()
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
