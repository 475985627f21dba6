"""The README's run command, for real: embedded PostgreSQL, broker, web, worker and beat come up,
/healthz answers, Ctrl-C (SIGTERM/SIGINT to the script) stops all of it, a second run reuses the data,
and without Redis the filesystem-transport fallback still runs tasks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 240) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run command exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            return get(url)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds}s")


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="mkt-run-", dir="/tmp")
    os.chmod(path, 0o755)  # the embedded cluster runs as the postgres user when we are root
    yield Path(path)
    subprocess.run(["rm", "-rf", path], check=False)


def start(data_dir: Path, **extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DATABASE_TEST_NAME", "STRIPE_API_BASE")
    }
    stripe_port = free_port()
    env |= {
        "PORT": str(port),
        "EMBEDDED_PG_PORT": str(free_port()),
        "EMBEDDED_REDIS_PORT": str(free_port()),
        "DEVSTRIPE_PORT": str(stripe_port),
        "MARKETPLACE_DATA_DIR": str(data_dir),
        "DJANGO_DEBUG": "true",  # the demo app (devstripe, seed_demo) is installed only with DEBUG on
    } | extra
    proc = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    proc.stripe_port = stripe_port  # type: ignore[attr-defined]
    return proc, port


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, sig)
    out, _ = proc.communicate(timeout=60)
    psutil.wait_procs(children, timeout=20)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running: {[c.cmdline() for c in alive]}"
    return out


def postmaster_running(data_dir: Path) -> bool:
    return (data_dir / "postgres" / "postmaster.pid").exists()


def test_run_command_serves_and_stops_cleanly(data_dir):
    proc, port = start(data_dir, REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        status, body = wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        assert status == 200, body
        assert '"database": "ok"' in body and '"broker": "ok"' in body
        status, page = get(f"http://127.0.0.1:{port}/offerings/")
        assert status == 200 and "Frankfurt general purpose" in page and "Oslo burst" in page
        assert postmaster_running(data_dir)
        # The demo's payment server answers on loopback (localstripe).
        assert get(f"http://127.0.0.1:{proc.stripe_port}/v1/customers")[0] in (200, 401)
    finally:
        out = stop(proc)
    assert "initialising embedded PostgreSQL" in out
    assert "alice@demo.local" in out and f"http://127.0.0.1:{port}/" in out
    assert not postmaster_running(data_dir), "the embedded PostgreSQL was left running"

    # A second run reuses the data directory (no new initdb, demo data not duplicated).
    proc, port = start(data_dir, REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        status, _ = wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        assert status == 200
        _, page = get(f"http://127.0.0.1:{port}/offerings/")
        assert page.count("Frankfurt general purpose") == 1
    finally:
        out = stop(proc, signal.SIGINT)
    assert "initialising" not in out
    assert not postmaster_running(data_dir)


def test_without_redis_the_filesystem_broker_still_runs_tasks(data_dir):
    proc, port = start(data_dir, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", REDIS_SERVER_BIN="no-such-redis")
    try:
        status, body = wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        assert status == 200 and "filesystem transport" in body
        env = os.environ | {"CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_DIR": str(data_dir / "broker")}
        subprocess.run(
            [
                str(ROOT / ".venv/bin/python"),
                "-c",
                "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','marketplace.settings');"
                "django.setup();from marketplace.celery import ping;ping.delay('fs-fallback')",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
        )
        log = data_dir / "logs" / "worker.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "pong fs-fallback" not in log.read_text():
            time.sleep(0.5)
        assert "pong fs-fallback" in log.read_text(), log.read_text()[-2000:]
    finally:
        stop(proc)
