"""Benchmark: webhook delivery from the booking's commit to local receivers, one healthy and one flaky.

16 client processes book slices through the API as deployed (BENCH_SERVER=gunicorn, the default:
POST /api/v1/timeslots/{slice}/request with a Bearer token to gunicorn with one sync worker per core,
DEBUG off, billing's funds check and hold and every hook on: the path users take), each as its own
funded renter on its own offering, and release every other booking again, so booking.confirmed,
booking.ended and the billing events flow. BENCH_SERVER=inprocess runs the engine in each client
process instead (scheduling.services.booking_request: 16 app processes on the machine's cores).
Each renter has two endpoints subscribed to every event type: one on a healthy receiver (always 200) and
one on a flaky receiver (HTTP 500 on every other request). Both receivers are threaded http.server
instances on 127.0.0.1 in this process; each checks every request's HMAC signature (webhooks.signing)
and records the event id and the time it arrived. Real Celery workers as deploy/run.sh starts them (one
on every queue, one on the webhooks queue only) send the outbox (webhooks.delivery); retries come at the
backoff (base 1 s, capped at 2 s here).

Figures:
  latency   event (the Event row's created_at, in the booking's transaction) -> first 2xx receipt;
            p50/p99 per receiver (the healthy one carries the target)
  rate      2xx deliveries per second (both receivers), first event to last delivery
  checks    per endpoint, distinct event ids received with a 2xx == the events in the outbox for it
            (none lost, none invented), duplicates received (a redelivery of an already received id),
            deliveries still pending when the bounded wait (BENCH_DRAIN, 60 s) ran out, bad signatures
plus the same run's baselines: pgbench TPS, Redis round trip, Celery worker ping, one HTTP POST to the
healthy receiver. The last line:

  webhooks: healthy p99 <s> s, flaky p99 <s> s, <n> deliveries/s, lost 0, pending 0, duplicates <n>

    .venv/bin/python bench/webhooks.py   [BENCH_CLIENTS=16 BENCH_SECONDS=20 BENCH_PAUSE=0.05 BENCH_DRAIN=60]

Target: healthy p99 < 1 s. Uses its own database (bench_webhooks, recreated, dropped at the end unless
BENCH_KEEP_DB) and Redis DB 11 unless REDIS_URL is set.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This file's own folder goes last: first, its name would hide the project's webhooks package.
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p not in (HERE, str(ROOT))] + [HERE]
os.environ.setdefault("BENCH_DB", "bench_webhooks")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
WORKER_ENV = {
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receivers are local (an operator's allowance)
    "WEBHOOK_ALLOW_HTTP": "1",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "1",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "2",
    "WEBHOOK_MAX_ATTEMPTS": "100",  # the flaky receiver gets everything eventually
    "WEBHOOK_DISABLE_AFTER_FAILURES": "1000",
    "METERING_INTERVAL_SECONDS": "3600",
}
os.environ.update({k: v for k, v in WORKER_ENV.items() if k not in os.environ})

import _common  # noqa: E402

os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")  # token-created mails
for _name, _value in _common.BENCH_KEYS.items():  # the web server checks the slice ids and tokens made here
    os.environ.setdefault(_name, _value)

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
PAUSE = float(os.environ.get("BENCH_PAUSE", "0.05"))
DRAIN = float(os.environ.get("BENCH_DRAIN", "60"))
CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "2"))  # the worker on every queue
HOOK_WORKERS = int(os.environ.get("BENCH_WEBHOOK_WORKERS", "2"))  # the webhooks-only worker (0: none)
SERVER = os.environ.get("BENCH_SERVER", "gunicorn")  # or inprocess: each client process runs the engine itself
WEB_WORKERS = os.environ.get("BENCH_WEB_WORKERS", str(os.cpu_count() or 2))  # as deploy/run.sh: one per core
percentile = _common.percentile


class Receiver:
    """A threaded HTTP server on 127.0.0.1: checks the signature, records (event id, arrival), answers."""

    def __init__(self, name: str, flaky: bool) -> None:
        self.name, self.flaky = name, flaky
        self.secrets: dict[str, str] = {}  # path -> the endpoint's secret
        self.ok: list[tuple[str, str, float]] = []  # (path, event id, arrival) of each 2xx answer
        self.refused = 0  # 500s given on purpose
        self.bad_signatures = 0
        self._n = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # the answer in one segment (headers and body apart meet a delayed ACK: 40 ms)

            def do_POST(self) -> None:
                from webhooks import signing

                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 200
                secret = receiver.secrets.get(self.path)
                try:
                    if secret is None:
                        raise signing.SignatureError("unknown endpoint")
                    signing.verify(secret, self.headers.get(signing.HEADER), body)
                    event_id = self.headers.get(signing.EVENT_ID_HEADER) or ""
                    if event_id != json.loads(body)["id"]:
                        raise signing.SignatureError("the event id header is not the body's")
                except (signing.SignatureError, ValueError, KeyError):
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    status = 400
                else:
                    with receiver._lock:
                        receiver._n += 1
                        if receiver.flaky and receiver._n % 2 == 1:
                            receiver.refused += 1
                            status = 500
                        else:
                            receiver.ok.append((self.path, event_id, arrived))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def _client(i: int, offer_id: int, renter_id: int, small_id: int, base: int, stop_at: float, out: Any) -> None:
    """One client process (own interpreter, own connection): book 60 s slices back to back on its own
    offering until stop_at, releasing every other one."""
    from django.db import connection

    from accounts.models import User
    from scheduling import services as engine
    from scheduling.slices import SliceKey

    connection.close()
    commits: list[float] = []  # when each of this client's transactions committed (its changes' events)
    real_commit = connection.commit

    def commit() -> None:
        real_commit()
        commits.append(time.time())

    connection.commit = commit  # type: ignore[method-assign]
    actor = User.objects.get(pk=renter_id)
    booked = released = refused = 0
    n = 0
    while time.time() < stop_at:
        key = SliceKey(offer_id, small_id, base + 60 * n, 60).encode()
        n += 1
        t = time.perf_counter()
        b = engine.booking_request(actor=actor, slice_id=key)
        if os.environ.get("BENCH_TRACE"):
            print(i, n, b.state, f"{time.perf_counter() - t:.3f}", flush=True)
        if b.state != "confirmed":
            refused += 1
            continue
        booked += 1
        if n % 2 == 0:
            engine.booking_release(actor=actor, booking_id=b.pk)
            released += 1
        if PAUSE:
            time.sleep(PAUSE)
    connection.close()
    out.put((booked, released, refused, renter_id, commits, []))


def _post(port: int, token: str, path: str) -> tuple[int, dict[str, Any]]:
    """POST /api/v1/<path> with an empty JSON body: (status, the JSON answer)."""
    head = (
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(f"POST /api/v1/{path} HTTP/1.1\r\n{head}".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    status_line, _, rest = b"".join(chunks).partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), (json.loads(body) if body else {})


def _http_client(
    i: int, port: int, token: str, offer_id: int, renter_id: int, small_id: int, base: int, stop_at: float, out: Any
) -> None:
    """One API client: the same loop as ``_client`` over HTTP (POST .../request, POST .../release) to the
    web server deploy/run.sh runs, with a Bearer token: authentication, DRF, JSON, every hook, and the
    web workers' own queueing. Sync workers answer one request per connection (Connection: close)."""
    from scheduling.slices import SliceKey

    def post(path: str) -> tuple[int, dict[str, Any]]:
        return _post(port, token, path)

    answers: list[float] = []  # seconds from sending a booking request to its answer

    booked = released = refused = 0
    n = 0
    while time.time() < stop_at:
        key = SliceKey(offer_id, small_id, base + 60 * n, 60).encode()
        n += 1
        t = time.perf_counter()
        status, b = post(f"timeslots/{key}/request")
        answers.append(time.perf_counter() - t)
        if status not in (200, 201) or b.get("state") != "confirmed":
            refused += 1
            if os.environ.get("BENCH_TRACE"):
                print(i, n, status, b, flush=True)
            continue
        booked += 1
        if n % 2 == 0:
            status, answer = post(f"timeslots/{b['id']}/release")
            released += status == 200
            if status != 200 and os.environ.get("BENCH_TRACE"):
                print(i, n, "release", status, answer, flush=True)
        if PAUSE:
            time.sleep(PAUSE)
    out.put((booked, released, refused, renter_id, [], answers))  # commits happen in the web server: not seen here


def baselines(worker_app: Any, healthy: Receiver) -> dict[str, float]:
    import redis
    import requests
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
        worker_app.control.ping(timeout=2, limit=1)
        pings.append(time.perf_counter() - t)
    posts = []
    with requests.Session() as s:
        for _ in range(50):
            t = time.perf_counter()
            s.post(healthy.url + "/baseline", data=b"{}", timeout=5)
            posts.append(time.perf_counter() - t)
    healthy.bad_signatures = 0  # the baseline's unsigned posts are refused on purpose
    return {
        "redis_rtt_ms": percentile(rtts, 50) * 1000,
        "celery_ping_ms": percentile(pings, 50) * 1000,
        "http_post_ms": percentile(posts, 50) * 1000,
    }


def check(receiver: Receiver, endpoints: dict[str, Any], commits: dict[int, list[float]]) -> dict[str, Any]:
    """Per endpoint: received distinct ids vs the outbox; latencies of the first 2xx receipt per event,
    from the Event row's created_at and from the commit of the transaction that wrote it (its user's
    client's first commit at or after it: each client is one thread doing one thing at a time)."""
    from webhooks.models import Delivery, Event

    created = {str(k): (u, t.timestamp()) for k, u, t in Event.objects.values_list("event_id", "user_id", "created_at")}
    lost = extra = dups = pending = failed = outbox = 0
    latencies: list[float] = []
    from_commit: list[float] = []
    first: dict[tuple[str, str], float] = {}
    for path, event_id, arrived in receiver.ok:
        if path not in endpoints:
            continue
        if (path, event_id) in first:
            dups += 1
        else:
            first[(path, event_id)] = arrived
    for path, ep in endpoints.items():
        expected = {str(e) for e in Delivery.objects.filter(endpoint=ep).values_list("event__event_id", flat=True)}
        got = {e for (p, e) in first if p == path}
        outbox += len(expected)
        lost += len(expected - got)
        extra += len(got - expected)
        pending += Delivery.objects.filter(endpoint=ep, state="pending").count()
        failed += Delivery.objects.filter(endpoint=ep, state="failed").count()
    for (path, event_id), arrived in first.items():
        if path in endpoints and event_id in created:
            user, at = created[event_id]
            latencies.append(arrived - at)
            seen = [c for c in commits.get(user, ()) if c >= at]
            if seen:
                from_commit.append(arrived - min(seen))
    return {
        "outbox": outbox,
        "received": len(first),
        "lost": lost,
        "extra": extra,
        "duplicates": dups,
        "pending": pending,
        "failed": failed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "c50": percentile(from_commit, 50),
        "c99": percentile(from_commit, 99),
        "arrivals": sorted(first.values()),
    }


def main() -> int:
    _common.setup_django()
    from django.conf import settings
    from django.db import connections

    from accounts.services import api_token_create
    from marketplace.celery import app
    from marketplace.lib import clock
    from owners.models import SliceProfile
    from scheduling import services as engine
    from scheduling.slices import SliceKey
    from tests.provisioning.helpers import fund
    from tests.provisioning.worker import Worker, purge_queue, wait_for
    from webhooks import services
    from webhooks.models import Delivery, Event, EventType

    assert settings.WEBHOOK_ALLOW_HTTP and settings.WEBHOOK_ALLOWED_NETWORKS  # read from WORKER_ENV above
    worker = hook_worker = web = None
    healthy, flaky = Receiver("healthy", flaky=False), Receiver("flaky", flaky=True)
    try:
        tps = _common.pgbench(clients=16, seconds=5)
        offers = _common.seed_offerings(CLIENTS)
        *people, warm = _common.renters(CLIENTS + 1)
        small_id = SliceProfile.objects.get(owner=None, name="Small").pk
        endpoints: dict[str, dict[str, Any]] = {"healthy": {}, "flaky": {}}
        for i, person in enumerate(people):
            fund(person, 100_000_000)
            for receiver in (healthy, flaky):
                path = f"/{receiver.name}/{i}"
                ep, secret = services.endpoint_create(
                    actor=person, url=receiver.url + path, event_types=list(EventType.values)
                )
                receiver.secrets[path] = secret
                endpoints[receiver.name][path] = ep
        # Funding wrote billing events (balance changes) before the endpoints existed: the outbox starts empty.
        assert not Event.objects.exists()
        purge_queue()
        # As deploy/run.sh runs them: a worker on every queue, and one on the webhooks queue only.
        # As deploy/run.sh runs them: DEBUG off, database connections kept between tasks (CONN_MAX_AGE 60).
        worker_env = {**_common.production_env(), **WORKER_ENV, "DATABASE_URL": os.environ["DATABASE_URL"]}
        worker = Worker(
            env=worker_env, concurrency=CONCURRENCY, log=Path("/tmp") / f"bench-webhooks-worker-{os.getpid()}.log"
        ).start()
        if HOOK_WORKERS:
            hook_worker = Worker(
                env=worker_env,
                concurrency=HOOK_WORKERS,
                queues="webhooks",
                log=Path("/tmp") / f"bench-webhooks-hookworker-{os.getpid()}.log",
            ).start()
        base = baselines(app, healthy)
        # Warm up, unmeasured: one booking in this process (the forked clients inherit its imports and
        # caches) whose event the worker delivers to a path the figures leave out.
        fund(warm, 100_000_000)
        _ep, healthy.secrets["/warmup"] = services.endpoint_create(
            actor=warm, url=healthy.url + "/warmup", event_types=list(EventType.values)
        )
        warm_start = int((clock.now() + timedelta(days=3)).timestamp()) // 60 * 60
        for n in range(3):
            engine.booking_request(
                actor=warm, slice_id=SliceKey(offers[0].pk, small_id, warm_start + 60 * n, 60).encode()
            )
        if SERVER == "gunicorn":
            tokens = [api_token_create(actor=person, name="bench", scopes=["read", "market"])[1] for person in people]
            warm_token = api_token_create(actor=warm, name="bench", scopes=["read", "market"])[1]
            web, port = _common.start_gunicorn(WEB_WORKERS)
            for n in range(3, 3 + 2 * int(WEB_WORKERS)):  # every web worker's first requests, unmeasured
                key = SliceKey(offers[0].pk, small_id, warm_start + 60 * n, 60).encode()
                status, answer = _post(port, warm_token, f"timeslots/{key}/request")
                assert status == 201 and answer["state"] == "confirmed", (status, answer)
        wait_for(lambda: not Delivery.objects.filter(state="pending").exists(), 30, "the warm-up deliveries", 0.2)
        connections.close_all()  # the children open their own
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        start_at = int((clock.now() + timedelta(days=2)).timestamp()) // 60 * 60
        t0 = time.time()
        stop_at = t0 + SECONDS
        if SERVER == "gunicorn":
            procs = [
                ctx.Process(
                    target=_http_client,
                    args=(i, port, tokens[i], offers[i].pk, people[i].pk, small_id, start_at, stop_at, out),
                )
                for i in range(CLIENTS)
            ]
        else:
            procs = [
                ctx.Process(target=_client, args=(i, offers[i].pk, people[i].pk, small_id, start_at, stop_at, out))
                for i in range(CLIENTS)
            ]
        for p in procs:
            p.start()
        totals = [out.get(timeout=SECONDS + 120) for _ in procs]
        for p in procs:
            p.join(30)
        booked = sum(t[0] for t in totals)
        released = sum(t[1] for t in totals)
        refused = sum(t[2] for t in totals)
        commits: dict[int, list[float]] = {t[3]: t[4] for t in totals}
        commits_seen = any(commits.values())  # in-process clients see their commits; API clients do not
        answers = [a for t in totals for a in t[5]]
        t_end = time.time()
        waited = 0.0
        try:
            wait_for(lambda: not Delivery.objects.filter(state="pending").exists(), DRAIN, "the outbox to drain", 0.5)
        except AssertionError:
            waited = DRAIN
        waited = waited or time.time() - t_end
        time.sleep(0.5)  # the last answers recorded
        figures = {name: check(r, endpoints[name], commits) for name, r in (("healthy", healthy), ("flaky", flaky))}
        events = Event.objects.filter(user__in=people).count()
        first_event = min(
            e.timestamp() for e in Event.objects.filter(user__in=people).values_list("created_at", flat=True)
        )
        arrivals = figures["healthy"]["arrivals"] + figures["flaky"]["arrivals"]
        span = (max(arrivals) - first_event) if arrivals else float("nan")
        rate = len(arrivals) / span if span else float("nan")
        healthy_span = (max(figures["healthy"]["arrivals"]) - first_event) if figures["healthy"]["arrivals"] else 0
    finally:
        if worker is not None:
            worker.stop()
        if hook_worker is not None:
            hook_worker.stop()
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        healthy.stop()
        flaky.stop()
        _common.teardown()

    print(
        f"baseline: pgbench {tps:,.0f} TPS (16 clients), redis rtt {base['redis_rtt_ms']:.2f} ms, "
        f"celery ping {base['celery_ping_ms']:.1f} ms, http post to a local receiver {base['http_post_ms']:.2f} ms"
    )
    print(
        f"load: {CLIENTS} clients x {SECONDS:.0f} s: {booked} bookings confirmed ({released} released, "
        f"{refused} refused), {events} events, workers -c {CONCURRENCY} + webhooks -c {HOOK_WORKERS}; outbox drained "
        f"{waited:.1f} s after the last booking (bound {DRAIN:.0f} s)"
    )
    if answers:
        print(
            f"  API: {len(answers)} booking requests, answered in p50 {percentile(answers, 50):.3f} s "
            f"p99 {percentile(answers, 99):.3f} s (each client waits its turn at the {WEB_WORKERS} web workers)"
        )
    for name, r in ((healthy.name, healthy), (flaky.name, flaky)):
        f = figures[name]
        since_commit = f", from its commit p50 {f['c50']:.3f} s p99 {f['c99']:.3f} s" if commits_seen else ""
        print(
            f"  {name:<8} latency from the event p50 {f['p50']:.3f} s p99 {f['p99']:.3f} s max {f['max']:.3f} s"
            f"{since_commit}\n           "
            f"outbox {f['outbox']}, received distinct {f['received']}, lost {f['lost']}, unknown {f['extra']}, "
            f"duplicates {f['duplicates']}, still pending {f['pending']}, given up {f['failed']}, "
            f"500s given {r.refused}, bad signatures {r.bad_signatures}"
        )
    h = figures["healthy"]
    print(
        f"  rate: {rate:.1f} deliveries/s (2xx, both receivers, first event to last delivery, {span:.1f} s); "
        f"healthy alone {len(h['arrivals']) / healthy_span if healthy_span else float('nan'):.1f}/s"
    )
    lost = h["lost"] + figures["flaky"]["lost"]
    pending = h["pending"] + figures["flaky"]["pending"]
    dups = h["duplicates"] + figures["flaky"]["duplicates"]
    print(
        f"webhooks: healthy p99 {h['p99']:.3f} s, flaky p99 {figures['flaky']['p99']:.3f} s, {rate:.1f} deliveries/s, "
        f"lost {lost}, pending {pending}, duplicates {dups}"
    )
    exact = h["lost"] == 0 and h["extra"] == 0 and h["received"] == h["outbox"]
    return 0 if exact and lost == 0 and not healthy.bad_signatures and not flaky.bad_signatures else 1


if __name__ == "__main__":
    sys.exit(main())
