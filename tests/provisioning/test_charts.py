"""The charts of provisioning: a booking's usage over time (labels in the viewer's zone, refreshed from a
JSON spec while the booking runs, that only its renter and staff allowed to see servers may read), and an
offering's utilisation (booked, held by standby servers, idle) per hour or day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission

from owners import services as owner_services
from owners.models import SliceProfile
from provisioning import selectors
from provisioning.models import Server, UsageSample
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
GIB = 1024**3


@pytest.fixture
def metered(owner, renter):  # type: ignore[no-untyped-def]
    """A running booking whose server was read at T0, T0+60 s and T0+120 s; its renter is in Asia/Kolkata (+05:30)."""
    renter.timezone = "Asia/Kolkata"
    renter.save(update_fields=["timezone"])
    offer = factories.offering(owner, publish=True)
    b = booking(renter, offer, state="running", starts_at=T0, seconds=3600)
    server = Server.objects.create(
        cloud=offer.cloud, offering=offer, booking=b, state="active", name="s", vcpus=1, ram_mib=2048, held_from=T0
    )
    readings = [  # at, cpu ns, memory MiB, disk read, disk written, network in, out (cumulative but memory)
        (0, 0, 500, 0, 0, 0, 0),
        (60, 30 * 10**9, 600, 61440, 122880, 6144000, 614400),  # 0.5 vCPU; 1, 2, 100, 10 KiB/s
        (120, 90 * 10**9, 550, 61440, 245760, 6144000, 675840),  # 1.0 vCPU; 0, 2, 0, 1 KiB/s
    ]
    for at, cpu, mem, rd, wr, rx, tx in readings:
        UsageSample.objects.create(
            server=server,
            booking=b,
            at=T0 + timedelta(seconds=at),
            cpu_time_ns=cpu,
            memory_mib=mem,
            disk_read_bytes=rd,
            disk_write_bytes=wr,
            net_rx_bytes=rx,
            net_tx_bytes=tx,
            raw={"status": "ACTIVE"},
        )
    return b


def test_usage_charts_per_metric_in_the_viewers_zone(metered):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    with time_machine.travel(T0 + timedelta(seconds=130), tick=False):
        rows = selectors.usage_chart_rows(selectors.usage_for_booking(metered), ZoneInfo("Asia/Kolkata"))
    charts = {m: selectors.usage_chart(rows, m) for m in selectors.USAGE_METRICS}
    assert {m: c["labels"] for m, c in charts.items()} == dict.fromkeys(
        selectors.USAGE_METRICS, ["15:31:00", "15:32:00"]
    )
    data = {m: [(d["label"], d["data"]) for d in c["datasets"]] for m, c in charts.items()}
    assert data == {
        "cpu": [("CPU", [0.5, 1.0])],
        "memory": [("Memory", [600, 550])],
        "disk": [("Read", [1.0, 0.0]), ("Written", [2.0, 2.0])],
        "network": [("In", [100.0, 0.0]), ("Out", [10.0, 1.0])],
    }
    assert {m: (c["type"], c["y_label"]) for m, c in charts.items()} == {
        "cpu": ("line", "vCPUs busy"),
        "memory": ("line", "MiB"),
        "disk": ("line", "KiB/s"),
        "network": ("line", "KiB/s"),
    }


def test_the_server_page_refreshes_its_charts_only_while_the_booking_runs(metered, renter):  # type: ignore[no-untyped-def]
    url = f"/bookings/{metered.pk}/server/"
    with time_machine.travel(T0 + timedelta(seconds=130), tick=False):
        live = login(renter).get(url).content.decode()
        metered.state = "completed"
        metered.save(update_fields=["state"])
        ended = login(renter).get(url).content.decode()
    for metric in selectors.USAGE_METRICS:
        assert f'id="usage-{metric}-data"' in live and f'id="usage-{metric}-data"' in ended
        assert f"/server/usage.json?metric={metric}" in live
    assert "data-chart-url" in live and "data-chart-url" not in ended
    assert "15:31:00" in live and "Asia/Kolkata" in live


def test_usage_json_is_the_renters_and_allowed_staffs_only(metered, renter, owner, staff):  # type: ignore[no-untyped-def]
    url = f"/bookings/{metered.pk}/server/usage.json"
    allowed = factories.UserFactory(is_staff=True)
    allowed.user_permissions.add(Permission.objects.get(codename="view_server", content_type__app_label="provisioning"))
    plain_staff = factories.UserFactory(is_staff=True)
    with time_machine.travel(T0 + timedelta(seconds=130), tick=False):
        mine = login(renter).get(url, {"metric": "cpu"})
        assert mine.status_code == 200 and mine["Content-Type"] == "application/json"
        assert mine.json()["datasets"] == [{"label": "CPU", "data": [0.5, 1.0]}]
        assert mine.json()["labels"] == ["15:31:00", "15:32:00"]
        assert login(allowed).get(url, {"metric": "network"}).status_code == 200
        assert login(staff).get(url, {"metric": "disk"}).status_code == 200
        for other in (factories.renter(), owner, plain_staff):
            assert login(other).get(url, {"metric": "cpu"}).status_code == 404
        bad = login(renter).get(url, {"metric": "gpu"})
        assert bad.status_code == 400 and "cpu, memory, disk, network" in bad.json()["error"]
        assert (
            login(renter).get(f"/bookings/{metered.pk + 999}/server/usage.json", {"metric": "cpu"}).status_code == 404
        )


@pytest.fixture
def capacity(owner, renter):  # type: ignore[no-untyped-def]
    """An offering of 4 vCPUs with bookings and a standby server over two days from T0."""
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        offer = factories.offering(owner, publish=True, vcpus=4)
        other = factories.offering(owner, publish=True)
        pool = owner_services.standby_pool_set(
            actor=owner, offering=offer, profile=SliceProfile.objects.get(owner=None, name="Small"), size=1
        )
    # Day 1: 2 vCPUs for 6 h; 1 vCPU released after 6 h of 8; a rejected booking and another offering's hold nothing.
    booking(renter, offer, state="completed", profile="Medium", starts_at=T0 + H, seconds=6 * 3600)
    released = booking(renter, offer, state="released", starts_at=T0 + 8 * H, seconds=8 * 3600)
    released.ended_at = T0 + 14 * H
    released.save(update_fields=["ended_at"])
    booking(renter, offer, state="rejected", profile="Large", starts_at=T0, seconds=10 * 3600)
    booking(renter, other, state="completed", profile="Large", starts_at=T0, seconds=10 * 3600)
    # A standby server of 1 vCPU for the first 12 h (then deleted), and one in the pool since day 2 began.
    Server.objects.create(
        cloud=offer.cloud, offering=offer, pool=pool, state="deleted", name="a", vcpus=1, ram_mib=2048,
        created_at=T0, deleted_at=T0 + 12 * H, updated_at=T0 + 12 * H,
    )  # fmt: skip
    Server.objects.create(
        cloud=offer.cloud, offering=offer, pool=pool, state="standby", name="b", vcpus=1, ram_mib=2048,
        created_at=T0 + 24 * H, updated_at=T0 + 24 * H,
    )  # fmt: skip
    # Day 2: 2 vCPUs running from 30 h to 40 h.
    booking(renter, offer, state="running", profile="Medium", starts_at=T0 + 30 * H, seconds=10 * 3600)
    return offer


def test_utilisation_shares_from_known_bookings(capacity):  # type: ignore[no-untyped-def]
    days = [(T0 + d * 24 * H, T0 + (d + 1) * 24 * H) for d in range(3)]
    with time_machine.travel(T0 + 36 * H, tick=False):
        shares = selectors.offering_utilisation(capacity, days)
    assert shares == [
        # (2 × 6 + 1 × 6) vCPU-h of 4 × 24 booked; 1 × 12 held by standby.
        {"booked": 0.1875, "standby": 0.125, "idle": 0.6875},
        # The day so far (12 h): 2 × 6 booked of 4 × 12, 1 × 12 standby; the third day has not begun.
        {"booked": 0.25, "standby": 0.25, "idle": 0.5},
    ]
    chart = selectors.utilisation_chart(["d1", "d2", "d3"], shares)
    assert (chart["type"], chart["stacked"], chart["labels"]) == ("bar", True, ["d1", "d2"])
    assert [(d["label"], d["data"]) for d in chart["datasets"]] == [
        ("Booked", [18.8, 25.0]),
        ("Standby servers", [12.5, 25.0]),
        ("Idle", [68.8, 50.0]),
    ]


def test_the_brief_example_two_of_four_units_for_six_hours_is_an_eighth(owner, renter):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, vcpus=4)
    booking(renter, offer, state="completed", profile="Medium", starts_at=T0 + 3 * H, seconds=6 * 3600)
    with time_machine.travel(T0 + 48 * H, tick=False):
        assert selectors.offering_utilisation(offer, [(T0, T0 + 24 * H)]) == [
            {"booked": 0.125, "standby": 0.0, "idle": 0.875}
        ]


def test_the_utilisation_page_is_the_offerings_owners(capacity, owner, other_owner):  # type: ignore[no-untyped-def]
    url = f"/owner/offerings/{capacity.pk}/utilisation"
    with time_machine.travel(T0 + 36.5 * H, tick=False):  # 8 December 22:30 UTC, the owner's zone
        page = login(owner).get(url, {"period": "month"})
        hourly = login(owner).get(url, {"period": "day"})
        assert login(other_owner).get(url).status_code == 404
        dashboard = login(owner).get("/owner/").content.decode()
    assert page.status_code == 200
    assert len(page.context["rows"]) == 31
    # Days from midnight: the 7th as from T0 (nothing before 10:00); the 8th's 22.5 h so far hold
    # 2 vCPUs × 6.5 h booked and 1 × 12.5 h standby, of 4 × 22.5.
    assert page.context["rows"][-2:] == [("2026-12-07", 18.8, 12.5, 68.8), ("2026-12-08", 14.4, 13.9, 71.7)]
    # The current hour (22:00 to now): 2 of 4 vCPUs booked, 1 standby.
    assert len(hourly.context["rows"]) == 24 and hourly.context["rows"][-1] == ("08 22:00", 50.0, 25.0, 25.0)
    assert url in dashboard
