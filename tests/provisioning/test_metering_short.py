"""Metering of short slices: a baseline reading when the server becomes the renter's, a final one at reclaim,
totals across counter restarts, and what a cloud that refuses diagnostics (an owner's ordinary role) still
gives. Through the simulator driver, whose counters grow at SIMULATED_RATES per second since ACTIVE."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.test import Client
from openstack import exceptions as os_exc

from marketplace.lib import clock
from owners.models import Cloud, SliceProfile
from provisioning import selectors, services
from provisioning.drivers import CloudError
from provisioning.drivers.base import DiagnosticsForbidden
from provisioning.drivers.openstack import OpenStackDriver
from provisioning.drivers.simulator import simulated_counters
from provisioning.models import Server, SimulatedResource, UsageSample
from provisioning.services import metering
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import booking, end_due, fund

pytestmark = pytest.mark.django_db

# Our counter -> the simulator's diagnostics key it comes from.
KEYS = {
    "cpu_time_ns": "cpu0_time",
    "disk_read_bytes": "vda_read",
    "disk_write_bytes": "vda_write",
    "net_rx_bytes": "vnet0_rx",
    "net_tx_bytes": "vnet0_tx",
}


def grown(age_from: float, age_to: float) -> dict[str, int]:
    """What the simulator's counters grow by between two ages of a server (seconds since ACTIVE)."""
    before, after = simulated_counters(age_from), simulated_counters(age_to)
    return {ours: after[key] - before[key] for ours, key in KEYS.items()}


@pytest.fixture(autouse=True)
def _no_remembered_refusals():  # type: ignore[no-untyped-def]
    metering._forbidden.clear()
    yield
    metering._forbidden.clear()


def five_second_slice(offering: Any, renter: Any) -> tuple[Any, Server]:
    """Booked, launched 2 s before its start (boot lead), metered at its start and just before its reclaim."""
    b = booking(renter, offering, seconds=5)
    t0 = b.starts_at
    with time_machine.travel(t0 - timedelta(seconds=2), tick=False):
        server = services.server_launch(booking_id=b.pk)
        assert server is not None and server.state == "active"
    with time_machine.travel(t0, tick=False):
        assert services.meter_start(server_id=server.pk) is not None
    with time_machine.travel(t0 + timedelta(seconds=5), tick=False):
        assert services.meter_final(server_id=server.pk) is not None
        services.server_reclaim(server_id=server.pk)
    return b, server


def test_five_second_slice_has_the_growth_between_start_and_final(sim_offering, renter):  # type: ignore[no-untyped-def]
    b, server = five_second_slice(sim_offering, renter)
    server.refresh_from_db()
    assert server.state == "deleted"
    usage = selectors.usage_for_booking(b)
    totals = usage["totals"]
    # The server was ACTIVE 2 s at the start reading and 7 s at the final one: the boot lead is not counted.
    expected = grown(2, 7)
    assert all(v > 0 for v in expected.values())
    assert {k: totals[k] for k in KEYS} == expected
    assert totals["cpu_seconds"] == round(expected["cpu_time_ns"] / 1e9, 3)
    assert totals["memory_mib_peak"] == simulated_counters(0)["memory"] // 1024
    assert (totals["samples"], totals["seconds_active"], totals["seconds_metered"]) == (2, 5, 5)
    assert [s["kind"] for s in usage["samples"]] == ["start", "final"]
    (interval,) = usage["series"]
    assert interval["seconds"] == 5 and interval["active"] and not interval["restarted"]
    assert {k: interval[k] for k in KEYS} == expected
    assert interval["cpu_load"] == round(expected["cpu_time_ns"] / 1e9 / 5, 3)
    assert usage["unavailable"] == {}
    # The periodic sweep alone (one reading a minute) would have nothing to compare.
    assert services.meter_due() == []


def test_the_api_gives_the_same_totals_and_series(sim_offering, renter):  # type: ignore[no-untyped-def]
    b, _ = five_second_slice(sim_offering, renter)
    response = login(renter).get(f"/api/v1/bookings/{b.pk}/server/usage")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    body = response.json()
    assert {k: body["totals"][k] for k in KEYS} == grown(2, 7)
    assert body["totals"]["seconds_active"] == 5
    assert len(body["series"]) == 1 and body["series"][0]["start"] == body["samples"][0]["at"]
    assert body["unavailable"] == {}
    page = login(renter).get(f"/bookings/{b.pk}/server/").content.decode()
    assert "Per interval" in page and "could not be measured" not in page


def test_meter_final_after_the_server_is_gone_is_none_not_an_error(sim_offering, renter):  # type: ignore[no-untyped-def]
    b, server = five_second_slice(sim_offering, renter)
    assert services.meter_final(server_id=server.pk) is None  # the row is deleted
    live = services.server_launch(booking_id=booking(renter, sim_offering, seconds=5).pk)
    SimulatedResource.objects.filter(external_id=live.external_id).delete()  # vanished from the cloud
    assert services.meter_final(server_id=live.pk) is None
    assert services.meter_start(server_id=999_999_999) is None
    # Only the launch's own start reading (the slice started at once); nothing from after it vanished.
    assert [s.raw["_kind"] for s in UsageSample.objects.filter(server=live)] == ["start"]


def test_a_server_read_only_once_says_its_growth_is_missing(sim_offering, renter):  # type: ignore[no-untyped-def]
    b = booking(renter, sim_offering, seconds=5)
    server = services.server_launch(booking_id=b.pk)
    UsageSample.objects.filter(server=server).delete()  # the launch's start reading failed (a cloud error)
    with time_machine.travel(b.ends_at, tick=False):  # only the final one
        services.meter_final(server_id=server.pk)
    assert "read only once" not in str(selectors.usage_for_booking(b)["unavailable"])  # still held: more to come
    services.server_reclaim(server_id=server.pk)
    usage = selectors.usage_for_booking(b)
    assert usage["totals"]["cpu_time_ns"] == 0 and "read only once" in usage["unavailable"]["cpu_time_ns"]
    assert "memory_mib_peak" not in usage["unavailable"]  # one reading is enough for a peak


def test_counters_restarted_by_a_resize_are_summed(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    """A guest booted again (rebuild, resize, move) restarts its counters: each segment's growth is summed."""
    settings.METERING_INTERVAL_SECONDS = 1
    fund(renter, 100_00)  # the resize holds the price difference
    b = booking(renter, sim_offering, seconds=10)
    t0 = b.starts_at
    with time_machine.travel(t0, tick=False):
        server = services.server_launch(booking_id=b.pk)  # ACTIVE at t0, its start reading taken then
    with time_machine.travel(t0 + timedelta(seconds=4), tick=False):
        assert services.server_meter(server_id=server.pk) is not None
    with time_machine.travel(t0 + timedelta(seconds=6), tick=False):
        medium = SliceProfile.objects.get(owner=None, name="Medium")
        services.booking_change_profile(actor=renter, booking_id=b.pk, profile_id=medium.pk)
        services.server_resize_run(server_id=server.pk)  # the simulator's guest restarts now
    with time_machine.travel(t0 + timedelta(seconds=9), tick=False):
        services.meter_final(server_id=server.pk)
    usage = selectors.usage_for_booking(b)
    # Before the restart: from age 0 to age 4; after it: from zero to age 3 (the final reading).
    first, second = grown(0, 4), grown(0, 3)
    assert {k: usage["totals"][k] for k in KEYS} == {k: first[k] + second[k] for k in KEYS}
    assert [i["restarted"] for i in usage["series"]] == [False, True]
    assert {k: usage["series"][1][k] for k in KEYS} == second
    # Not the naive last-minus-first, which a restart makes negative (or zero once clamped).
    naive = simulated_counters(3)["cpu0_time"] - simulated_counters(0)["cpu0_time"]
    assert usage["totals"]["cpu_time_ns"] != naive


def test_a_hand_over_ends_one_tenure_and_starts_the_next_with_one_reading(sim_offering, renter):  # type: ignore[no-untyped-def]
    first = booking(renter, sim_offering, seconds=5)
    second = booking(renter, sim_offering, starts_at=first.ends_at, seconds=5)
    t0 = first.starts_at
    with time_machine.travel(t0, tick=False):
        services.server_launch(booking_id=first.pk)  # its start reading is the launch's
    with time_machine.travel(first.ends_at, tick=False):
        # Handed over to the renter's next slice: the hand-over's one reading ends one tenure, starts the next.
        assert end_due() == []
        new = Server.objects.get(booking=second, state="active")
    with time_machine.travel(second.ends_at, tick=False):
        services.meter_final(server_id=new.pk)
    one, two = selectors.usage_for_booking(first), selectors.usage_for_booking(second)
    assert {k: one["totals"][k] for k in KEYS} == grown(0, 5)
    assert {k: two["totals"][k] for k in KEYS} == grown(5, 10)
    assert [s["kind"] for s in two["samples"]] == ["start", "final"]


def test_diagnostics_refused_gives_seconds_active_and_says_admin_is_needed(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_DIAGNOSTICS_FORBIDDEN = True  # as Nova answers a project member (403)
    b, _ = five_second_slice(sim_offering, renter)
    usage = selectors.usage_for_booking(b)
    assert usage["totals"]["seconds_active"] == 5 and usage["totals"]["samples"] == 2
    figures = {"cpu_time_ns", "cpu_seconds", "memory_mib_peak", *KEYS}
    assert set(usage["unavailable"]) == figures
    assert all("admin role" in reason for reason in usage["unavailable"].values())
    assert all(usage["totals"][f] is None for f in figures)  # unknown, not zero

    response = login(renter).get(f"/api/v1/bookings/{b.pk}/server/usage")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body["unavailable"]) == figures and "admin role" in body["unavailable"]["cpu_time_ns"]
    assert body["totals"]["cpu_time_ns"] is None and body["totals"]["seconds_active"] == 5
    page = login(renter).get(f"/bookings/{b.pk}/server/")
    assert page.status_code == 200 and "admin role" in page.content.decode()


def test_a_refusal_is_remembered_and_the_periodic_sample_records_the_status(sim_offering, renter, settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_DIAGNOSTICS_FORBIDDEN = True
    b = booking(renter, sim_offering, seconds=600)
    server = services.server_launch(booking_id=b.pk)  # its start reading: refused, so by status
    later_on = clock.now() + timedelta(seconds=120)  # the periodic sample comes an interval later
    with time_machine.travel(later_on, tick=False):
        sample = services.server_meter(server_id=server.pk)
    assert sample is not None and sample.raw["status"] == "ACTIVE" and sample.cpu_time_ns is None
    # Diagnostics are not asked again for a while (a member's metering costs one call, not two).
    settings.SIMULATOR_DIAGNOSTICS_FORBIDDEN = False
    later = services.meter_final(server_id=server.pk)
    assert later is not None and later.raw["_source"] == "status"
    # New credentials (the owner granted the role): asked again at once.
    Cloud.objects.filter(pk=sim_offering.cloud_id).update(updated_at=clock.now())  # as an edit of them does
    with time_machine.travel(later_on + timedelta(seconds=120), tick=False):
        again = services.server_meter(server_id=server.pk)
    assert again is not None and again.cpu_time_ns is not None


def _answer(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


class _Compute:
    def __init__(self, exc: Exception):
        self.exc = exc

    def get_server_diagnostics(self, server_id: str) -> Any:
        raise self.exc


class _Conn:
    def __init__(self, exc: Exception):
        self.compute = _Compute(exc)


def test_openstack_driver_turns_a_403_into_diagnostics_forbidden(sim_offering):  # type: ignore[no-untyped-def]
    policy = os_exc.ForbiddenException(
        message="Policy doesn't allow os_compute_api:os-server-diagnostics to be performed.", response=_answer(403)
    )
    with pytest.raises(DiagnosticsForbidden) as refused:
        OpenStackDriver(sim_offering.cloud, conn=_Conn(policy)).diagnostics("x")
    assert "admin role" in refused.value.message
    down = os_exc.HttpException(message="Service Unavailable", response=_answer(503))
    with pytest.raises(CloudError) as failed:
        OpenStackDriver(sim_offering.cloud, conn=_Conn(down)).diagnostics("x")
    assert failed.value.transient and not isinstance(failed.value, DiagnosticsForbidden)


def test_usage_api_is_the_renters_the_owners_and_staffs(sim_offering, renter, owner, staff):  # type: ignore[no-untyped-def]
    b, _ = five_second_slice(sim_offering, renter)
    url = f"/api/v1/bookings/{b.pk}/server/usage"
    for user, code in ((renter, 200), (owner, 200), (staff, 200), (factories.renter(), 404), (factories.owner(), 404)):
        response = login(user).get(url)
        assert response.status_code == code, user
        assert response["Content-Type"].startswith("application/json")
    other = login(factories.renter()).get(url).json()
    assert "totals" not in other and "samples" not in other
    anonymous = Client().get(url)
    assert anonymous.status_code in (401, 403) and anonymous["Content-Type"].startswith("application/json")
    assert login(renter).get("/api/v1/bookings/999999999/server/usage").status_code == 404


def test_usage_response_is_in_the_openapi_schema():  # type: ignore[no-untyped-def]
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    ok = schema["paths"]["/api/v1/bookings/{booking_id}/server/usage"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    props = schema["components"]["schemas"][ref]["properties"]
    assert {"samples", "series", "totals", "unavailable", "seconds_held"} <= set(props)
