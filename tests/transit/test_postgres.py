"""The app reaches PostgreSQL over verified TLS (sslmode=verify-full), and nothing else gets in.

A private cluster (tests/transit/servers.py) has ssl=on and a pg_hba.conf of hostssl lines, with
hostnossl rejected; its certificate comes from a throwaway CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections

from marketplace.env import database_from_url, database_tls
from tests.transit.servers import Postgres

pytestmark = pytest.mark.integration


def _entry(pg: Postgres, query: str = "", **tls: Any) -> dict[str, object]:
    """The DATABASES entry settings.py builds from DATABASE_URL and DATABASE_SSLMODE / DATABASE_SSLROOTCERT."""
    entry = database_from_url(f"postgres://postgres@127.0.0.1:{pg.port}/postgres{query}")
    database_tls(
        entry,
        sslmode=tls.get("sslmode", ""),
        sslrootcert=tls.get("sslrootcert", ""),
        require_verified=tls.get("require_verified", True),
        allow_insecure=tls.get("allow_insecure", False),
    )
    return entry


@pytest.fixture
def django_connection(django_db_blocker: Any) -> Iterator[Any]:
    """Open a Django connection (the app's database backend) for a DATABASES entry, and close it after.

    The entry is added to django.db.connections under its own alias: contrib.postgres's connection
    hook looks the connection up there by alias."""
    aliases: list[str] = []

    def connect(entry: dict[str, object]) -> Any:
        alias = f"transit{len(aliases)}"
        connections.settings[alias] = connections.configure_settings({"default": entry})["default"]
        aliases.append(alias)
        return connections[alias]

    with django_db_blocker.unblock():
        try:
            yield connect
        finally:
            for alias in aliases:
                connections[alias].close()
                del connections[alias]
                del connections.settings[alias]


def _session_ssl(conn: Any) -> tuple[bool, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        return cur.fetchone()


def test_verify_full_with_the_ca_connects_and_the_session_is_encrypted(pg_tls, django_connection):
    # Production's default: DATABASE_SSLMODE unset means verify-full; only the CA file is named.
    entry = _entry(pg_tls, sslrootcert=str(pg_tls.pki.ca_cert))
    assert entry["OPTIONS"] == {"sslmode": "verify-full", "sslrootcert": str(pg_tls.pki.ca_cert)}
    ssl, version = _session_ssl(django_connection(entry))
    assert ssl is True
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_the_url_may_carry_the_tls_options_instead(pg_tls, django_connection):
    entry = _entry(pg_tls, f"?sslmode=verify-full&sslrootcert={pg_tls.pki.ca_cert}")
    assert _session_ssl(django_connection(entry))[0] is True


def test_a_plain_connection_is_refused_by_the_server(pg_tls, django_connection):
    entry = _entry(pg_tls, sslmode="disable", allow_insecure=True)
    with pytest.raises(OperationalError, match="no encryption"):
        django_connection(entry).ensure_connection()


def test_a_certificate_from_another_ca_fails_verification(pg_tls, django_connection):
    entry = _entry(pg_tls, sslrootcert=str(pg_tls.other_ca))
    with pytest.raises(OperationalError, match="certificate verify failed"):
        django_connection(entry).ensure_connection()


def test_a_name_the_certificate_does_not_carry_fails_verification(pg_tls):
    # The certificate names 127.0.0.1 and localhost; "127.0.0.2" reaches the same server (loopback)
    # but is not its name: verify-full checks the name as well as the CA.
    with pytest.raises(psycopg.OperationalError, match="does not match host name|server certificate for"):
        psycopg.connect(
            host="127.0.0.2",
            port=pg_tls.port,
            user="postgres",
            dbname="postgres",
            sslmode="verify-full",
            sslrootcert=str(pg_tls.pki.ca_cert),
            connect_timeout=5,
        ).close()


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_production_refuses_a_weaker_sslmode_unless_allowed(pg_tls, mode):
    with pytest.raises(ImproperlyConfigured, match=f"sslmode='{mode}' is refused.*DATABASE_ALLOW_INSECURE=true"):
        _entry(pg_tls, sslmode=mode)
    assert _entry(pg_tls, sslmode=mode, allow_insecure=True)["OPTIONS"]["sslmode"] == mode
    # Development keeps what it was given (libpq's default, prefer, when nothing is).
    assert "sslmode" not in _entry(pg_tls, require_verified=False)["OPTIONS"]


def test_an_unreadable_ca_file_is_refused_at_start_up(pg_tls, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_SSLROOTCERT=.*cannot be read"):
        _entry(pg_tls, sslrootcert=str(tmp_path / "missing.pem"))
    with pytest.raises(ImproperlyConfigured, match="DATABASE_SSLMODE='verify-everything'"):
        _entry(pg_tls, sslmode="verify-everything")


def test_a_unix_socket_needs_no_tls_even_in_production(pg_tls, django_connection):
    """Production's verify-full default does not stand in the way of a local socket (libpq ignores
    sslmode there): nothing crosses a network."""
    entry = database_from_url(f"postgres://postgres@/postgres?host={pg_tls.socket_dir}&port={pg_tls.port}")
    database_tls(entry, sslmode="", sslrootcert="", require_verified=True, allow_insecure=False)
    assert entry["OPTIONS"]["sslmode"] == "verify-full"
    ssl, _version = _session_ssl(django_connection(entry))
    assert ssl is False
