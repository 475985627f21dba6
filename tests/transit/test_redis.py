"""The cache and Celery's broker reach Redis over TLS with the certificate checked (rediss:// and
REDIS_CA_CERTS, through the options settings.py builds); plain text and another CA's certificate fail.

A private redis-server (tests/transit/servers.py) listens on a TLS port only (--port 0).
"""

from __future__ import annotations

import ssl

import pytest
import redis as redis_py
from celery import Celery
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured

from marketplace.env import is_plaintext_network_url, redis_tls_options
from tests.transit.servers import Redis

pytestmark = pytest.mark.integration


def _cache(url: str, ca: str) -> RedisCache:
    """The cache as settings.CACHES configures it: RedisCache with REDIS_TLS_OPTIONS."""
    return RedisCache(url, {"OPTIONS": redis_tls_options(url, ca_certs=ca), "KEY_PREFIX": "transit"})


def _celery(url: str, ca: str) -> Celery:
    """A Celery app configured as settings.py configures the project's (CELERY_BROKER_USE_SSL)."""
    return Celery("transit", broker=url, broker_use_ssl=redis_tls_options(url, ca_certs=ca) or None)


def test_the_options_require_and_check_the_certificate():
    options = redis_tls_options("rediss://cache.internal:6380/0", ca_certs="/etc/ssl/redis-ca.pem")
    assert options == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_check_hostname": True,
        "ssl_ca_certs": "/etc/ssl/redis-ca.pem",
    }
    assert redis_tls_options("redis://127.0.0.1:6379/0", ca_certs="/x.pem") == {}
    with pytest.raises(ImproperlyConfigured, match="always checked"):
        redis_tls_options("rediss://cache.internal:6380/0?ssl_cert_reqs=none", ca_certs="")
    assert is_plaintext_network_url("redis://10.0.0.5:6379/0")
    assert not is_plaintext_network_url("rediss://10.0.0.5:6380/0")
    assert not is_plaintext_network_url("unix:///run/redis.sock")
    assert not is_plaintext_network_url("filesystem://")


def test_the_cache_works_over_tls_with_the_ca(redis_tls: Redis):
    cache = _cache(f"rediss://localhost:{redis_tls.port}/0", str(redis_tls.pki.ca_cert))
    cache.set("greeting", {"hello": "tls"}, 30)
    assert cache.get("greeting") == {"hello": "tls"}


def test_a_plain_connection_to_the_server_is_refused(redis_tls: Redis):
    cache = _cache(f"redis://localhost:{redis_tls.port}/0", "")
    with pytest.raises(redis_py.exceptions.ConnectionError):
        cache.set("plain", "text", 30)


def test_a_certificate_from_another_ca_fails_verification(redis_tls: Redis):
    cache = _cache(f"rediss://localhost:{redis_tls.port}/0", str(redis_tls.other_ca))
    with pytest.raises(redis_py.exceptions.ConnectionError, match="certificate verify failed"):
        cache.set("wrong", "ca", 30)


def test_without_the_ca_the_systems_cas_do_not_vouch_for_the_server(redis_tls: Redis):
    cache = _cache(f"rediss://localhost:{redis_tls.port}/0", "")
    with pytest.raises(redis_py.exceptions.ConnectionError, match="certificate verify failed"):
        cache.set("no", "ca", 30)


def test_celery_publishes_and_consumes_over_tls(redis_tls: Redis):
    app = _celery(f"rediss://localhost:{redis_tls.port}/1", str(redis_tls.pki.ca_cert))
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        queue = conn.SimpleQueue("transit-tls")
        queue.put({"task": "marketplace.ping"})
        message = queue.get(timeout=5)
        assert message.payload == {"task": "marketplace.ping"}
        message.ack()
        queue.close()


def test_celery_refuses_a_broker_certificate_from_another_ca(redis_tls: Redis):
    app = _celery(f"rediss://localhost:{redis_tls.port}/1", str(redis_tls.other_ca))
    with app.connection_for_write() as conn, pytest.raises(Exception, match="certificate verify failed"):
        conn.ensure_connection(max_retries=0)


@pytest.mark.parametrize(("right_ca", "answer"), [(True, (True, "ok")), (False, (False, "OperationalError"))])
def test_the_health_probe_checks_the_brokers_certificate(settings, redis_tls: Redis, right_ca, answer):
    """/healthz's broker probe uses Celery's TLS options: kombu alone would take rediss:// unverified."""
    from marketplace.views import _check_broker

    url = f"rediss://localhost:{redis_tls.port}/1"
    settings.CELERY_BROKER_URL = url
    settings.CELERY_BROKER_USE_SSL = redis_tls_options(
        url, ca_certs=str(redis_tls.pki.ca_cert if right_ca else redis_tls.other_ca)
    )
    assert _check_broker() == answer
