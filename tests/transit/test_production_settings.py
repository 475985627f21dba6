"""With DJANGO_DEBUG=false the app, configured only by its environment, talks TLS to PostgreSQL and Redis
(the private servers of tests/transit/servers.py), and refuses to start with a plain connection to either
unless the operator says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.transit.servers import ROOT, Postgres, Redis

pytestmark = pytest.mark.integration

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "transit-k7Jx2v9QpZr4Lm8Nw3Yt6Hb1Fd5Gs0Ac-Ve_Ru9Ty2Ui8Op4Lk3Jh7Gf6Ds5Aq1Zx",
    "MARKETPLACE_SECRETS_KEY": "y6xZ2bq1mPp3p9yZ0QF8n3m7gRkqk7C5p4Xb0y3v6nI=",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "DJANGO_ALLOWED_HOSTS": "market.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "DJANGO_SETTINGS_MODULE": "marketplace.settings",
}

PROBE = """
import json, django
django.setup()
from django.core.cache import cache
from django.db import connection
from marketplace.celery import app
from marketplace.views import _check_broker, _check_database
with connection.cursor() as cur:
    cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    ssl_on, version = cur.fetchone()
cache.set("transit-probe", "over tls", 30)
with app.connection_for_write() as conn:
    conn.ensure_connection(max_retries=1)
    broker_ssl = bool(conn.transport_options is not None and conn.ssl)
print(json.dumps({"pg_ssl": ssl_on, "pg_version": version, "options": connection.settings_dict["OPTIONS"],
                  "cache": cache.get("transit-probe"), "cache_backend": type(cache._cache if hasattr(cache, "_cache") else cache).__name__,
                  "broker_ssl": broker_ssl, "healthz": [_check_database(), _check_broker()]}))
"""


def _run(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env |= PRODUCTION | extra
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_talks_tls_to_postgres_and_redis(pg_tls: Postgres, redis_tls: Redis):
    done = _run(
        ["-c", PROBE],
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{pg_tls.port}/postgres",
        DATABASE_SSLROOTCERT=str(pg_tls.pki.ca_cert),
        REDIS_URL=f"rediss://localhost:{redis_tls.port}/0",
        REDIS_CA_CERTS=str(redis_tls.pki.ca_cert),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["pg_ssl"] is True and seen["pg_version"] in {"TLSv1.2", "TLSv1.3"}
    assert seen["options"] == {"sslmode": "verify-full", "sslrootcert": str(pg_tls.pki.ca_cert)}
    assert seen["cache"] == "over tls"
    assert seen["cache_backend"] == "RedisCacheClient"  # the Redis cache, not a local fallback
    assert seen["broker_ssl"] is True
    assert seen["healthz"] == [[True, "ok"], [True, "ok"]]  # /healthz's probes go the same way


def test_production_refuses_a_plain_redis_url():
    done = _run(["manage.py", "check"], REDIS_URL="redis://127.0.0.1:6379/0")
    assert done.returncode != 0
    assert "With DJANGO_DEBUG=false CELERY_BROKER_URL is a rediss:// URL" in done.stderr
    assert "REDIS_ALLOW_INSECURE=true" in done.stderr


def test_production_refuses_a_database_url_that_does_not_verify():
    done = _run(
        ["manage.py", "check"],
        DATABASE_URL="postgres://app@db.internal:5432/marketplace?sslmode=require",
        REDIS_URL="rediss://cache.internal:6380/0",
    )
    assert done.returncode != 0
    assert "sslmode='require' is refused" in done.stderr and "DATABASE_ALLOW_INSECURE=true" in done.stderr


def test_the_operator_may_accept_plain_connections_explicitly():
    done = _run(
        ["manage.py", "check"],
        DATABASE_URL="postgres://app@127.0.0.1:5432/marketplace?sslmode=disable",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_ALLOW_INSECURE="true",
        REDIS_ALLOW_INSECURE="true",
    )
    assert done.returncode == 0, done.stderr[-2000:]
