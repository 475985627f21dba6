"""Private servers for the transit tests: a PostgreSQL cluster, a redis-server and nginx, each started by
the test as the current user (PostgreSQL as 'postgres' when that is root: it refuses to run as root) in a
temporary directory, on free high ports, and stopped by it."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.transit.pki import Issued, make_ca

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, *, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    detail = log.read_text()[-2000:] if log and log.exists() else ""
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}\n{detail}")


def binary(name: str, *candidates: str) -> str:
    """The path of a server binary; the test is skipped, saying which, only when it is not installed."""
    for path in [shutil.which(name), *candidates]:
        if path and os.access(path, os.X_OK):
            return path
    pytest.skip(f"{name} is not installed on this machine (Debian package: {name.split('/')[-1]})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class Postgres:
    port: int
    pki: Issued  # the CA that signed the server's certificate
    other_ca: Path  # a CA that did not
    socket_dir: Path  # its unix socket (no network: TLS does not apply)


def _pg_bin() -> str:
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(f"{directory}/initdb", os.X_OK):
            return directory
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian package: postgresql)")


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A cluster with ssl=on whose pg_hba.conf admits TLS connections only (hostssl; hostnossl reject)."""
    bindir = _pg_bin()
    as_pg = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
    owner = "postgres" if IS_ROOT else None
    base = Path(tempfile.mkdtemp(prefix="mkt-transit-pg-"))
    try:
        if owner:
            shutil.chown(base, owner, owner)
        pki = make_ca(base / "tls", "postgres", owner=owner)
        other = make_ca(base / "other", "another")
        data, sock = base / "data", base / "sock"
        for d in (data, sock):
            d.mkdir()
            if owner:
                shutil.chown(d, owner, owner)
        subprocess.run(
            [*as_pg, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1,127.0.0.2'\nport = {port}\nunix_socket_directories = '{sock}'\n"
                f"ssl = on\nssl_cert_file = '{pki.cert}'\nssl_key_file = '{pki.key}'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\nfsync = off\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.0/8 trust\nhostnossl all all 127.0.0.0/8 reject\n"
        )
        log = base / "server.log"
        if owner:
            log.touch()
            shutil.chown(log, owner, owner)
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(log), "start"],
            check=True,
            capture_output=True,
        )
        try:
            yield Postgres(port=port, pki=pki, other_ca=other.ca_cert, socket_dir=sock)
        finally:
            subprocess.run(
                [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- Redis


@dataclass(frozen=True)
class Redis:
    port: int  # the TLS port; the plain port is off (--port 0)
    pki: Issued
    other_ca: Path


@contextmanager
def redis() -> Iterator[Redis]:
    server = binary("redis-server")
    base = Path(tempfile.mkdtemp(prefix="mkt-transit-redis-"))
    pki = make_ca(base / "tls", "redis")
    other = make_ca(base / "other", "another")
    port = free_port()
    log = base / "redis.log"
    proc = subprocess.Popen(
        [
            server,
            "--port", "0",
            "--tls-port", str(port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(pki.cert),
            "--tls-key-file", str(pki.key),
            "--tls-ca-cert-file", str(pki.ca_cert),
            "--tls-auth-clients", "no",
            "--tls-protocols", "TLSv1.2 TLSv1.3",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(base),
            "--logfile", str(log),
        ],
    )  # fmt: skip
    try:
        wait_for_port(port, proc=proc, log=log)
        yield Redis(port=port, pki=pki, other_ca=other.ca_cert)
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- nginx with deploy/nginx


@dataclass(frozen=True)
class Nginx:
    http_port: int
    https_port: int
    pki: Issued
    static_root: Path
    conf: Path  # the rendered deploy/nginx/marketplace.conf


@contextmanager
def nginx(*, upstream: str) -> Iterator[Nginx]:
    """nginx running deploy/nginx/marketplace.conf (rendered by deploy/nginx/render.sh) in front of
    ``upstream``, with a temporary prefix, pid file and logs, as the current user."""
    server = binary("nginx", "/usr/sbin/nginx")
    base = Path(tempfile.mkdtemp(prefix="mkt-transit-nginx-"))
    try:
        with _nginx_in(base, server, upstream) as running:
            yield running
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def _nginx_in(base: Path, server: str, upstream: str) -> Iterator[Nginx]:
    pki = make_ca(base / "tls", "nginx")
    static_root = base / "static"
    static_root.mkdir()
    (static_root / "transit.txt").write_text("served by nginx\n")
    http_port, https_port = free_port(), free_port()
    site = base / "marketplace.conf"
    subprocess.run(
        ["bash", str(ROOT / "deploy/nginx/render.sh"), str(site)],
        check=True,
        env=os.environ
        | {
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_TLS_CERT": str(pki.cert),
            "NGINX_TLS_KEY": str(pki.key),
            "NGINX_UPSTREAM": upstream,
            "NGINX_STATIC_ROOT": str(static_root),
            "NGINX_HTTP_PORT": str(http_port),
            "NGINX_HTTPS_PORT": str(https_port),
            "NGINX_ACME_ROOT": str(base / "acme"),
        },
    )
    temp = "\n".join(
        f"    {kind}_temp_path {base}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    mime = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    (base / "nginx.conf").write_text(
        f"""{"user root;" if IS_ROOT else ""}
daemon off;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 64; }}
http {{
    {mime}
    access_log {base}/access.log;
{temp}
    include {site};
}}
"""
    )
    log = base / "error.log"
    proc = subprocess.Popen([server, "-p", str(base), "-e", str(log), "-c", str(base / "nginx.conf")])
    try:
        wait_for_port(https_port, proc=proc, log=log)
        wait_for_port(http_port, proc=proc, log=log)
        yield Nginx(http_port=http_port, https_port=https_port, pki=pki, static_root=static_root, conf=site)
    finally:
        _stop(proc)
