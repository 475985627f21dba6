"""Delivery to the second on a REAL Nova (deploy/nova: Keystone, Placement, Glance, Nova with the fake virt
driver), through a real Celery worker: the exact-time start and end steps, control transfer by a Nova
rebuild with the renter's key (compute microversion >= 2.57), the standby pool, and a worker killed
mid-transfer. Skipped with the reason when that Nova is not reachable (a failure under NOVA_REQUIRED)."""

from __future__ import annotations

import base64
import os
import threading
from datetime import timedelta

import pytest

from marketplace.lib import clock, crypto
from owners import services as owner_services
from provisioning import services, tasks
from provisioning.models import Server
from scheduling.models import Booking, user_data_context
from tests import factories
from tests.provisioning import nova
from tests.provisioning.helpers import ED25519, SSHPublicKey, booking, ensure_predefined_profiles
from tests.provisioning.worker import Worker, purge_queue, wait_for

_reason = nova.unreachable_reason()
if _reason is not None and os.environ.get("NOVA_REQUIRED"):
    pytest.fail(f"NOVA_REQUIRED is set but the real Nova is not usable: {_reason}", pytrace=False)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_reason is not None, reason=f"real Nova needed: {_reason}"),
]

WORKER_ENV = {
    "PROVISIONING_NETWORKS": "none",
    "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "30",
    "PROVISIONING_LEASE_MARGIN_SECONDS": "2",
    "PROVISIONING_POLL_SECONDS": "0.2",
    "PROVISIONING_REBUILD_ESTIMATE_SECONDS": "3",
    **nova.operator_allowances(),  # plain http to the local Nova: the operator's development allowance
}
# The compute host of deploy/nova/start.sh (NOVA_FAKE_*, allocation ratios 1.0) and a profile of half of it:
# an offering of exactly the host's capacity sells two such servers, and Nova has room for two, not three.
HOST = {"vcpus": 16, "ram_mib": 32768, "disk_gb": 500}
USER_DATA = "#cloud-config\nruncmd:\n  - echo slice-ready\n"
HALF = {"vcpus": 8, "ram_mib": 16384, "disk_gb": 20, "bandwidth_mbps": 0}


@pytest.fixture
def project():  # type: ignore[no-untyped-def]
    proj = nova.new_project("mkt-dl")
    nova.admin_connection().compute.update_quota_set(proj.project_id, instances=20, cores=64, ram=131072)
    yield proj
    proj.cleanup()


@pytest.fixture
def host_offering(owner, project, settings, transactional_db):  # type: ignore[no-untyped-def]
    ensure_predefined_profiles()
    for key, value in WORKER_ENV.items():
        if key.endswith("_SECONDS"):
            setattr(settings, key, float(value))
    settings.PROVISIONING_NETWORKS = "none"
    nova.allow_in_settings(settings)
    purge_queue()
    used = [h for h in nova.admin_connection().compute.hypervisors(details=True) if (h.vcpus_used or 0) > 0]
    if used:
        pytest.fail(f"the Nova host is not empty (another test left servers): {[(h.name, h.vcpus_used) for h in used]}")
    cloud = factories.cloud(
        owner,
        driver="openstack",
        auth_url=project.auth_url,
        app_credential_id=project.credential_id,
        app_credential_secret=project.credential_secret,
    )
    offer = factories.offering(
        owner,
        on=cloud,
        publish=True,
        allowed_images=[project.image],
        bandwidth_mbps=1000,
        grid_seconds=5,
        min_length_seconds=5,
        max_length_seconds=3600,
        **HOST,
    )
    half = owner_services.profile_create(actor=owner, name="Half host", flavor_name="mkt.dl.half", **HALF)
    factories.price(owner, offer, profile=half)
    yield offer, half
    conn = project.conn
    flavor = conn.compute.find_flavor("mkt.dl.half")
    if flavor is not None:
        nova.admin_connection().compute.delete_flavor(flavor, ignore_missing=True)


@pytest.fixture
def worker(tmp_path):  # type: ignore[no-untyped-def]
    w = Worker(env=WORKER_ENV, log=tmp_path / "worker.log", concurrency=3).start()
    yield w
    w.stop()


def _renter(n: int):  # type: ignore[no-untyped-def]
    user = factories.renter(email=f"dl{n}-{os.getpid()}@example.test")
    key = SSHPublicKey(user=user, name="laptop", public_key=ED25519)
    key.save()
    return user


class Peak:
    """Counts the project's servers on Nova every 0.2 s while the test runs (the cloud's view, not ours)."""

    def __init__(self, project) -> None:  # type: ignore[no-untyped-def]
        self.project, self.peak, self._stop = project, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                live = [s for s in self.project.servers() if s.status not in ("DELETED", "SOFT_DELETED")]
            except Exception:  # noqa: BLE001 - a transient API error is one sample fewer
                continue
            self.peak = max(self.peak, len(live))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def _cloud_key(project, server_id: str):  # type: ignore[no-untyped-def]
    return project.conn.compute.get_server(server_id).key_name


def test_back_to_back_renters_on_a_full_host_both_run(host_offering, project, worker):  # type: ignore[no-untyped-def]
    """A host sized to the offering (two Half servers), one held by a third renter all along; A then B,
    back to back on the other: B never gets a second server (which Nova could not place), it gets A's
    server rebuilt with B's key at A's end, and A's key is gone from it then."""
    offer, half = host_offering
    a, b_renter, c = _renter(1), _renter(2), _renter(3)
    now = clock.now()
    blocker = booking(c, offer, profile=half, starts_at=now, seconds=600)
    services.schedule_booking(blocker)
    wait_for(lambda: Booking.objects.get(pk=blocker.pk).state == "running", 90, "the third renter's server")
    peak = Peak(project)
    t = clock.now() + timedelta(seconds=8)
    first = booking(a, offer, profile=half, starts_at=t, seconds=10)
    second = booking(b_renter, offer, profile=half, starts_at=t + timedelta(seconds=10), seconds=10)
    for bk in (first, second):
        services.schedule_booking(bk)  # what the engine's on_booking_confirmed hook does
    wait_for(lambda: Booking.objects.get(pk=first.pk).state == "running", 60, "A's slice to run")
    wait_for(lambda: Booking.objects.get(pk=second.pk).state == "running", 60, "B's slice to run")
    a_row = Server.objects.get(booking=first)
    b_row = Server.objects.get(booking=second, state="active")
    assert b_row.external_id == a_row.external_id  # the same Nova server: control transferred
    assert _cloud_key(project, b_row.external_id) == b_row.keypair_name != a_row.keypair_name
    assert a_row.state == "handed_over" and a_row.revoked_at is not None
    end_lag = (a_row.revoked_at - first.ends_at).total_seconds()
    assert 0 <= end_lag < 5, end_lag
    assert "NoValidHost" not in (Booking.objects.get(pk=second.pk).reason or "")
    wait_for(lambda: Booking.objects.get(pk=second.pk).state == "completed", 60, "B's slice to end")
    wait_for(
        lambda: not Server.objects.filter(booking=second).exclude(state__in=["deleted", "handed_over"]).exists(),
        60,
        "B's server to go",
    )
    assert peak.stop() <= 2  # never more servers on the cloud than the offering sells
    assert Booking.objects.get(pk=first.pk).state == "completed"


def test_standby_refill_then_a_five_second_slice_from_booking_to_wiped(host_offering, project, owner, worker):  # type: ignore[no-untyped-def]
    offer, half = host_offering
    pool = owner_services.standby_pool_set(actor=owner, offering=offer, profile=half, size=1)
    tasks.refill_pool.delay(pool.pk)
    wait_for(lambda: Server.objects.filter(pool=pool, booking=None, state="standby").exists(), 90, "a standby server")
    standby = Server.objects.get(pool=pool, booking=None, state="standby")
    assert project.conn.compute.get_server(standby.external_id).key_name is None
    a = _renter(1)
    start = clock.now() + timedelta(seconds=8)
    b = booking(a, offer, profile=half, starts_at=start, seconds=5)
    Booking.objects.filter(pk=b.pk).update(
        user_data_encrypted=crypto.encrypt(USER_DATA, context=user_data_context(a.pk))
    )
    services.schedule_booking(b)
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 30, "the slice to run")
    row = Server.objects.get(booking=b, state="active")
    assert row.external_id == standby.external_id  # taken from the pool, not booted
    assert _cloud_key(project, row.external_id) == row.keypair_name
    seen = project.conn.compute.get_server(row.external_id)  # an admin sees user_data (microversion >= 2.3)
    assert base64.b64decode(seen.user_data).decode() == USER_DATA  # rebuilt with the renter's user-data
    assert row.held_from == start or (row.active_at - start).total_seconds() < 5
    # The pool refills behind it (the offering holds two Half servers: the renter's and a new standby).
    wait_for(lambda: Server.objects.filter(pool=pool, booking=None, state="standby").count() == 1, 90, "the refill")
    wait_for(lambda: Booking.objects.get(pk=b.pk).state == "completed", 30, "the slice to end")
    wait_for(
        lambda: Server.objects.get(pk=row.pk).state in ("handed_over", "deleted"), 30, "the server to leave the renter"
    )
    row.refresh_from_db()
    assert row.revoked_at is not None and (row.revoked_at - b.ends_at).total_seconds() < 5
    assert row.seconds_held() <= 5
    # The renter's server was wiped (back to the pool, no key) or deleted; the pool holds one server again.
    left = {s.id: s for s in project.servers()}
    if row.external_id in left:
        assert left[row.external_id].key_name is None
    wait_for(lambda: len(project.servers()) <= 2, 60, "the surplus standby server to be trimmed")


def test_worker_killed_during_a_transfer_gives_the_server_to_no_one_else(host_offering, project, owner, tmp_path):  # type: ignore[no-untyped-def]
    offer, half = host_offering
    pool = owner_services.standby_pool_set(actor=owner, offering=offer, profile=half, size=1)
    first = Worker(env={**WORKER_ENV, "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "8"}, log=tmp_path / "w1.log").start()
    try:
        tasks.refill_pool.delay(pool.pk)
        wait_for(lambda: Server.objects.filter(pool=pool, state="standby").exists(), 90, "a standby server")
        a = _renter(1)
        b = booking(a, offer, profile=half, starts_at=clock.now() + timedelta(seconds=2), seconds=120)
        tasks.deliver_booking.delay(b.pk)
        wait_for(
            lambda: Server.objects.filter(booking=b, state="transferring").exists(), 30, "the transfer", interval=0.01
        )
        first.kill()
    finally:
        first.stop()
    moving = Server.objects.get(booking=b, state="transferring")
    second = Worker(env={**WORKER_ENV, "PROVISIONING_ACTIVE_TIMEOUT_SECONDS": "8"}, log=tmp_path / "w2.log").start()
    try:

        def running() -> bool:
            tasks.launch_due.delay()  # the sweep finds the transfer once its lease has expired
            try:
                return bool(wait_for(lambda: Booking.objects.get(pk=b.pk).state == "running", 2, "running"))
            except AssertionError:
                return False

        wait_for(running, 90, "the sweep to finish the transfer", interval=1)
    finally:
        second.stop()
    row = Server.objects.get(booking=b, state="active")
    assert row.pk == moving.pk and row.external_id == moving.external_id
    assert _cloud_key(project, row.external_id) == row.keypair_name
    # Nobody else holds that server, and no server was lost or doubled.
    holders = Server.objects.filter(external_id=row.external_id).exclude(state__in=["handed_over", "deleted"])
    assert list(holders.values_list("booking_id", flat=True)) == [b.pk]
    assert row.external_id in {s.id for s in project.servers()}
