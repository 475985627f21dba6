"""Shared set-up for the benchmarks: a throwaway database, Django on it, pgbench as the baseline."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("BENCH_DB", "bench_marketplace")
PGBENCH_DB = DB + "_pgbench"


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-qAtc", sql], check=True, capture_output=True)


def setup_django() -> None:
    """Create the throwaway database, point Django at it, migrate."""
    psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{DB}"')
    os.environ["DATABASE_URL"] = f"{PG}/{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False  # no SQL logging in the measured loop
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def teardown() -> None:
    from django.db import connections

    connections.close_all()
    if not os.environ.get("BENCH_KEEP_DB"):
        psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def pgbench(clients: int = 16, seconds: int = 10) -> float:
    """TPC-B-like pgbench on a scratch database of the same server; returns TPS."""
    psql(f'DROP DATABASE IF EXISTS "{PGBENCH_DB}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{PGBENCH_DB}"')
    url = f"{PG}/{PGBENCH_DB}"
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", str(clients), url], check=True, capture_output=True)
        out = subprocess.run(
            ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        psql(f'DROP DATABASE IF EXISTS "{PGBENCH_DB}" WITH (FORCE)')
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    return float(match.group(1)) if match else float("nan")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def seed_offerings(
    n: int,
    *,
    model: str = "fixed",
    vcpus: int = 64,
    ram_mib: int = 262144,
    bandwidth: int = 100000,
    disk: int = 10000,
    price_seed: int = 1,
) -> list:
    """n published offerings of one owner, priced for the Small profile; bulk-inserted (no per-row audit)."""
    import random

    from accounts.models import User
    from owners.models import Cloud, Offering, PricingPolicy, SliceProfile

    rng = random.Random(price_seed)
    owner = User.objects.create_user(
        f"bench-owner-{User.objects.count()}@example.test", "x", is_owner=True, is_renter=False
    )
    cloud = Cloud.objects.create(owner=owner, name="bench", driver="simulator", region_name="bench-1")
    offers = Offering.objects.bulk_create(
        [
            Offering(
                owner=owner,
                cloud=cloud,
                name=f"bench-{i}",
                region="bench-1",
                vcpus=vcpus,
                ram_mib=ram_mib,
                disk_gb=disk,
                bandwidth_mbps=bandwidth,
                grid_seconds=60,
                min_length_seconds=60,
                max_length_seconds=86400,
                status="published",
                allowed_images=["ubuntu-24.04"],
            )
            for i in range(n)
        ]
    )
    small = SliceProfile.objects.get(owner=None, name="Small")
    rows = []
    for o in offers:
        if model == "fixed":
            rows.append(
                PricingPolicy(
                    offering=o, profile=small, model="fixed", currency="USD", price_per_unit=rng.randint(5, 500)
                )
            )
        else:
            rows.append(
                PricingPolicy(
                    offering=o,
                    profile=small,
                    model="auction",
                    currency="USD",
                    reserve_price=10,
                    bidding_closes_seconds=60,
                    clearing_rule=rng.choice(["pay_as_bid", "uniform"]),
                )
            )
    PricingPolicy.objects.bulk_create(rows)
    return offers


def renters(n: int) -> list:
    """Renters with an SSH key on file (the market refuses a booking nobody could log into)."""
    from accounts.models import User
    from renters.models import SSHPublicKey

    users = [User.objects.create_user(f"bench-renter-{i}@example.test", "x") for i in range(n)]
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdK8Rz1C5m2F0y2kF3n9nTq1c5vW0b3xJ8n2Zt7mQ1a bench"
    SSHPublicKey.objects.bulk_create(
        [SSHPublicKey(user=u, name="bench", public_key=key, fingerprint=f"SHA256:bench-{u.pk}") for u in users]
    )
    return users


# A benchmark whose own process signs or encrypts what its server reads (slice ids, tokens, secrets)
# puts these in its environment first: every process then shares them.
BENCH_KEYS = {
    "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-0123456789-0123456789",
    "MARKETPLACE_SECRETS_KEY": "YmVuY2gtb25seS1rZXktMDEyMzQ1Njc4OS0wMTIzNDU=",
}


def production_env() -> dict[str, str]:
    """The environment of a production deployment on the bench database: DEBUG off, persistent database
    connections (``BENCH_CONN_MAX_AGE``, default 60 as deploy/run.sh), keys the production checks want."""
    return {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", BENCH_KEYS["DJANGO_SECRET_KEY"]),
        "MARKETPLACE_SECRETS_KEY": os.environ.get("MARKETPLACE_SECRETS_KEY", BENCH_KEYS["MARKETPLACE_SECRETS_KEY"]),
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_bench",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "DATABASE_ALLOW_INSECURE": "true",  # the bench's PostgreSQL and Redis are plain TCP on loopback
        "REDIS_ALLOW_INSECURE": "true",
        # Production settings want named hosts and a mail backend; TLS is the front's (deploy/nginx),
        # so the app behind it is measured without the https redirect.
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_CONN_MAX_AGE": os.environ.get("BENCH_CONN_MAX_AGE", "60"),
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: the bench serves no static files
    }


def start_gunicorn(
    workers: str, threads: str = "1", worker_class: str = "", extra_args: str = ""
) -> tuple[subprocess.Popen, int]:
    """The app as deploy/run.sh serves it (gunicorn, its config file), with ``production_env()``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "marketplace.wsgi:application",
        "--config",
        "deploy/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        workers,
        "--threads",
        threads,
        "--log-level",
        "warning",
    ]
    if worker_class:  # e.g. sync (one request at a time per worker, no keep-alive)
        cmd += ["--worker-class", worker_class]
    cmd += extra_args.split()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=production_env())
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("gunicorn did not open its port")
