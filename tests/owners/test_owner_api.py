"""The owner's API (/api/v1/owner/): offerings, windows, profiles, prices, bookings on the owner's
offerings, preemption with notice, revenue. Per endpoint: the owner does it and sees the change (and
the audit log records it, from the API), another owner gets 404 and nothing changes, a renter's token
and a token without the ``owner`` scope get 403, bad input is a 400 naming the field with nothing
written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from accounts.services import api_token_create
from audit.models import DomainEvent
from notifications.models import Notification
from owners import services as owner_services
from owners.models import AvailabilityWindow, Offering, PricingPolicy, SliceProfile
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.billing.test_portal_and_statements import history  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
API = "/api/v1/owner"


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False) as t:
        yield t


def api(user: Any, scopes: list[str] | None = None) -> Client:
    _, raw = api_token_create(actor=user, name="owner api tests", scopes=scopes or ["owner"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def small() -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name="Small")


@pytest.fixture
def offer(owner, frozen):  # type: ignore[no-untyped-def]
    """Published, Small at 1.00 per minute, 120 s notice promised."""
    return factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, preemption_notice_seconds=120
    )


@pytest.fixture
def booked(offer, renter):  # type: ignore[no-untyped-def]
    factories.fund_renter(renter, 100_000)
    return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))


def snapshot() -> tuple:
    """Everything an owner endpoint could change."""
    return (
        list(Offering.objects.order_by("pk").values_list("pk", "name", "status", "vcpus", "grid_seconds")),
        list(AvailabilityWindow.objects.order_by("pk").values_list("pk", "offering_id", "weekdays")),
        list(SliceProfile.objects.order_by("pk").values_list("pk", "name", "vcpus", "ram_mib")),
        list(PricingPolicy.objects.order_by("pk").values_list("pk", "model", "price_per_unit", "currency")),
        list(Booking.objects.order_by("pk").values_list("pk", "state", "preempt_deadline")),
        Notification.objects.count(),
        list(DomainEvent.objects.exclude(verb__startswith="api_token").values_list("pk", flat=True)),
    )


def audited(verb: str, user: Any, response: Any = None) -> DomainEvent:
    """The one record of ``verb`` by ``user`` (written by ``response``'s request, when given)."""
    events = DomainEvent.objects.filter(verb=verb, actor=user)
    if response is not None:
        events = events.filter(request_id=response["X-Request-ID"])
    return events.get()


def endpoints(offering: Offering, booking: Booking, window: AvailabilityWindow, profile: SliceProfile) -> list:
    """Every owner endpoint on someone's objects: (method, path, body)."""
    o, b = offering.pk, booking.pk
    return [
        ("get", f"{API}/offerings/{o}", None),
        ("patch", f"{API}/offerings/{o}", {"name": "taken"}),
        ("post", f"{API}/offerings/{o}/status", {"status": "paused"}),
        ("get", f"{API}/offerings/{o}/windows", None),
        ("post", f"{API}/offerings/{o}/windows", {"weekdays": [0], "start_time": "08:00", "end_time": "09:00"}),
        ("delete", f"{API}/offerings/{o}/windows/{window.pk}", None),
        ("get", f"{API}/offerings/{o}/pricing", None),
        ("get", f"{API}/offerings/{o}/pricing/{small().pk}", None),
        ("put", f"{API}/offerings/{o}/pricing/{small().pk}", {"model": "fixed", "price_per_unit": "9.00"}),
        ("delete", f"{API}/offerings/{o}/pricing/{small().pk}", None),
        ("get", f"{API}/offerings/{o}/standby", None),
        ("post", f"{API}/offerings/{o}/preempt", {"notice_seconds": 0}),
        ("post", f"{API}/offerings/{o}/preempt?preview=1", {}),
        ("get", f"{API}/profiles/{profile.pk}", None),
        ("patch", f"{API}/profiles/{profile.pk}", {"name": "taken"}),
        ("get", f"{API}/bookings/{b}", None),
        ("post", f"{API}/bookings/{b}/preempt", {"notice_seconds": 0}),
        ("post", f"{API}/bookings/{b}/preempt?preview=1", {}),
    ]


LISTS = [
    ("get", f"{API}/clouds", None),
    ("get", f"{API}/offerings", None),
    ("post", f"{API}/offerings", {"cloud": 1, "name": "x", "vcpus": 1, "ram_mib": 512}),
    ("get", f"{API}/profiles", None),
    ("post", f"{API}/profiles", {"name": "x", "vcpus": 1, "ram_mib": 512, "flavor_name": "m1"}),
    ("get", f"{API}/bookings", None),
    ("get", f"{API}/revenue", None),
]


def call(client: Client, method: str, path: str, body: Any) -> Any:
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, content_type="application/json")


@pytest.fixture
def world(owner, offer, booked):  # type: ignore[no-untyped-def]
    window = factories.window(owner, offer, datetime(2026, 1, 1, 8).time(), datetime(2026, 1, 1, 20).time())
    profile = owner_services.profile_create(
        actor=owner, name="Tiny", vcpus=1, ram_mib=512, disk_gb=5, bandwidth_mbps=10, flavor_name="m1.tiny"
    )
    return endpoints(offer, booked, window, profile)


# ---- who may ---------------------------------------------------------------------------------------


def test_a_renters_token_with_every_scope_is_refused_with_403(world, renter):  # type: ignore[no-untyped-def]
    client = api(renter, scopes=["read", "market", "billing", "owner"])
    before = snapshot()
    for method, path, body in world + LISTS:
        response = call(client, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["error"] == "forbidden"
        assert "owner API is for owners" in response.json()["detail"]
    assert snapshot() == before


def test_a_token_without_the_owner_scope_is_refused_with_403(world, owner):  # type: ignore[no-untyped-def]
    client = api(owner, scopes=["read", "market", "billing"])
    before = snapshot()
    for method, path, body in world + LISTS:
        response = call(client, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"] == "insufficient_scope"
        assert response.json()["required_scopes"] == ["owner"]
    assert snapshot() == before


def test_anonymous_is_a_json_401(world):  # type: ignore[no-untyped-def]
    for method, path, body in world[:3] + LISTS[:2]:
        response = call(Client(), method, path, body)
        assert response.status_code in (401, 403) and "error" in response.json()


def test_another_owner_gets_404_for_everything_of_the_owner_and_nothing_changes(world, other_owner):  # type: ignore[no-untyped-def]
    client = api(other_owner)
    before = snapshot()
    for method, path, body in world:
        response = call(client, method, path, body)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["error"] == "not_found"
    assert snapshot() == before
    # Their lists hold none of it.
    for path in ("offerings", "bookings", "clouds"):
        assert client.get(f"{API}/{path}").json()["results"] == []
    assert {p["name"] for p in client.get(f"{API}/profiles").json()["results"]} == {
        "Micro",
        "Small",
        "Medium",
        "Large",
    }


def test_ids_beyond_any_column_are_a_404_or_400_never_a_500(world, owner):  # type: ignore[no-untyped-def]
    client = api(owner)
    huge = 10**30
    for path in (f"offerings/{huge}", f"bookings/{huge}", f"profiles/{huge}", f"offerings/{huge}/pricing"):
        assert client.get(f"{API}/{path}").status_code == 404, path
    assert client.get(f"{API}/bookings?offering={huge}").status_code == 400
    created = client.post(
        f"{API}/offerings", {"cloud": huge, "name": "x", "vcpus": 1, "ram_mib": 512}, "application/json"
    )
    assert created.status_code == 400 and "cloud" in created.json()["fields"]


# ---- offerings -------------------------------------------------------------------------------------


def test_the_owner_creates_reads_changes_and_publishes_an_offering(owner, frozen):  # type: ignore[no-untyped-def]
    cloud = factories.cloud(owner, region_name="fra1")
    client = api(owner)
    created = client.post(
        f"{API}/offerings",
        {
            "cloud": cloud.pk,
            "name": "Rack B",
            "vcpus": 8,
            "ram_mib": 16384,
            "disk_gb": 200,
            "bandwidth_mbps": 1000,
            "grid_seconds": 60,
            "min_length_seconds": 60,
            "max_length_seconds": 3600,
            "allowed_images": [" ubuntu-24.04 "],
        },
        "application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["status"], body["region"], body["allowed_images"]) == (
        "Rack B",
        "draft",
        "fra1",
        ["ubuntu-24.04"],
    )
    assert body["transitions"] == ["published", "retired"]
    pk = body["id"]
    assert audited("offering.created", owner, created).target_id == str(pk)
    listed = client.get(f"{API}/offerings").json()
    assert listed["count"] == 1 and [o["id"] for o in listed["results"]] == [pk]
    assert client.get(f"{API}/offerings?status=draft").json()["count"] == 1
    assert client.get(f"{API}/offerings?status=published").json()["count"] == 0
    assert client.get(f"{API}/offerings?status=gone").status_code == 400

    changed = client.patch(f"{API}/offerings/{pk}", {"vcpus": 4, "description": "smaller"}, "application/json")
    assert changed.status_code == 200 and changed.json()["vcpus"] == 4
    assert Offering.objects.get(pk=pk).description == "smaller"
    assert audited("offering.updated", owner, changed).data["changes"]["vcpus"] == [8, 4]

    # Publishing needs a price first (the service's rule), then works.
    refused = client.post(f"{API}/offerings/{pk}/status", {"status": "published"}, "application/json")
    assert refused.status_code == 400 and "status" in refused.json()["fields"]
    priced = client.put(
        f"{API}/offerings/{pk}/pricing/{small().pk}", {"model": "fixed", "price_per_unit": "0.10"}, "application/json"
    )
    assert priced.status_code == 200, priced.content
    published = client.post(f"{API}/offerings/{pk}/status", {"status": "published"}, "application/json")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert audited("offering.published", owner).data == {"from": "draft", "to": "published"}
    assert client.get(f"{API}/offerings/{pk}").json()["transitions"] == ["paused", "retired"]
    retired = client.post(f"{API}/offerings/{pk}/status", {"status": "retired"}, "application/json")
    assert retired.json()["status"] == "retired"
    again = client.post(f"{API}/offerings/{pk}/status", {"status": "published"}, "application/json")
    assert again.status_code == 409 and Offering.objects.get(pk=pk).status == "retired"


def test_an_owner_awaiting_approval_cannot_publish(frozen):  # type: ignore[no-untyped-def]
    waiting = factories.owner(approved=False)
    offer = factories.offering(waiting, pricing={"model": "fixed", "price_per_unit": 10})
    response = api(waiting).post(f"{API}/offerings/{offer.pk}/status", {"status": "published"}, "application/json")
    assert response.status_code == 403 and "awaiting approval" in response.json()["detail"]
    assert Offering.objects.get(pk=offer.pk).status == "draft"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vcpus": 2**31}, "vcpus"),
        ({"vcpus": 0}, "vcpus"),
        ({"ram_mib": "lots"}, "ram_mib"),
        ({"grid_seconds": 3}, "grid_seconds"),
        ({"grid_seconds": 60, "min_length_seconds": 90}, "min_length_seconds"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"vcpus": 10**6}, "vcpus"),  # above the operator's maximum (the model's clean)
        ({"preemption_notice_seconds": 10**9}, "preemption_notice_seconds"),
        ({"allowed_images": "ubuntu"}, "allowed_images"),
        ({"name": "x" * 121}, "name"),
    ],
)
def test_bad_offering_input_is_a_400_on_the_field_and_nothing_is_written(owner, frozen, change, field):  # type: ignore[no-untyped-def]
    cloud = factories.cloud(owner)
    client = api(owner)
    before = snapshot()
    base = {"cloud": cloud.pk, "name": "Rack", "vcpus": 4, "ram_mib": 8192}
    created = client.post(f"{API}/offerings", base | change, "application/json")
    assert created.status_code == 400, created.content
    assert field in created.json()["fields"], created.json()
    assert snapshot() == before


def test_a_patch_refused_by_a_rule_changes_nothing(owner, offer, other_owner):  # type: ignore[no-untyped-def]
    client = api(owner)
    theirs = factories.cloud(other_owner)
    before = snapshot()
    # Smaller than the Small profile it prices (2 GiB of RAM).
    shrink = client.patch(f"{API}/offerings/{offer.pk}", {"ram_mib": 1024}, "application/json")
    assert shrink.status_code == 400 and "__all__" in shrink.json()["fields"]
    moved = client.patch(f"{API}/offerings/{offer.pk}", {"cloud": theirs.pk}, "application/json")
    assert moved.status_code == 400 and moved.json()["fields"]["cloud"] == ["Not one of your clouds."]
    assert snapshot() == before


def test_clouds_are_listed_without_their_secret(owner, frozen):  # type: ignore[no-untyped-def]
    factories.cloud(owner, name="mine")
    owner_services.cloud_create(
        actor=owner,
        name="keystone",
        driver="simulator",
        app_credential_id="cred",
        app_credential_secret="s3cr3t-value",
    )
    response = api(owner).get(f"{API}/clouds")
    assert response.status_code == 200
    rows = {c["name"]: c for c in response.json()["results"]}
    assert set(rows) == {"mine", "keystone"}
    assert rows["keystone"]["has_secret"] is True and rows["mine"]["has_secret"] is False
    assert "s3cr3t-value" not in response.content.decode()
    assert not any("secret_encrypted" in key for row in rows.values() for key in row)


# ---- windows ---------------------------------------------------------------------------------------


def test_windows_are_added_listed_and_removed(owner, offer):  # type: ignore[no-untyped-def]
    client = api(owner)
    url = f"{API}/offerings/{offer.pk}/windows"
    added = client.post(url, {"weekdays": [4, 0, 0], "start_time": "22:00", "end_time": "06:00"}, "application/json")
    assert added.status_code == 201, added.content
    window = added.json()
    assert (window["weekdays"], window["start_time"], window["end_time"]) == ([0, 4], "22:00:00", "06:00:00")
    assert audited("offering.window_added", owner, added).data["id"] == window["id"]
    assert [w["id"] for w in client.get(url).json()] == [window["id"]]
    assert client.get(f"{API}/offerings/{offer.pk}").json()["windows"] == [window]

    removed = client.delete(f"{url}/{window['id']}")
    assert removed.status_code == 204
    assert not AvailabilityWindow.objects.exists()
    assert audited("offering.window_removed", owner).target_id == str(offer.pk)
    assert client.delete(f"{url}/{window['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weekdays": [7], "start_time": "08:00", "end_time": "09:00"}, "weekdays"),
        ({"weekdays": [], "start_time": "08:00", "end_time": "09:00"}, "weekdays"),
        ({"weekdays": [1], "start_time": "25:00", "end_time": "09:00"}, "start_time"),
        ({"weekdays": [1], "start_time": "08:00"}, "end_time"),
        ({"weekdays": [1], "start_time": "08:00", "end_time": "08:00"}, "__all__"),
    ],
)
def test_bad_windows_are_a_400_and_nothing_is_added(owner, offer, body, field):  # type: ignore[no-untyped-def]
    before = snapshot()
    response = api(owner).post(f"{API}/offerings/{offer.pk}/windows", body, "application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()
    assert snapshot() == before


# ---- profiles --------------------------------------------------------------------------------------


def test_profiles_are_listed_created_and_changed(owner, other_owner, frozen):  # type: ignore[no-untyped-def]
    owner_services.profile_create(
        actor=other_owner, name="Theirs", vcpus=1, ram_mib=512, disk_gb=0, bandwidth_mbps=0, flavor_name="t"
    )
    client = api(owner)
    created = client.post(
        f"{API}/profiles",
        {"name": "GPU-ish", "vcpus": 4, "ram_mib": 8192, "disk_gb": 50, "flavor_name": "g1.large"},
        "application/json",
    )
    assert created.status_code == 201, created.content
    mine = created.json()
    assert (mine["name"], mine["predefined"], mine["bandwidth_mbps"]) == ("GPU-ish", False, 0)
    assert audited("profile.created", owner).data["flavor_name"] == "g1.large"
    names = [p["name"] for p in client.get(f"{API}/profiles").json()["results"]]
    assert set(names) == {"Micro", "Small", "Medium", "Large", "GPU-ish"}  # never another owner's
    changed = client.patch(f"{API}/profiles/{mine['id']}", {"vcpus": 6}, "application/json")
    assert changed.status_code == 200 and changed.json()["vcpus"] == 6
    assert audited("profile.updated", owner).data["changes"] == {"vcpus": [4, 6]}
    # The platform's profiles are not the owner's to change.
    before = snapshot()
    assert client.patch(f"{API}/profiles/{small().pk}", {"vcpus": 64}, "application/json").status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "p", "vcpus": 0, "ram_mib": 512, "flavor_name": "f"}, "vcpus"),
        ({"name": "p", "vcpus": 513, "ram_mib": 512, "flavor_name": "f"}, "vcpus"),
        ({"name": "p", "vcpus": 1, "ram_mib": 2**31, "flavor_name": "f"}, "ram_mib"),
        ({"name": "p", "vcpus": 1, "ram_mib": 512, "disk_gb": -1, "flavor_name": "f"}, "disk_gb"),
        ({"name": "Small", "vcpus": 1, "ram_mib": 512}, "flavor_name"),
        ({"name": "", "vcpus": 1, "ram_mib": 512, "flavor_name": "f"}, "name"),
    ],
)
def test_bad_profiles_are_a_400_and_nothing_is_written(owner, body, field):  # type: ignore[no-untyped-def]
    before = snapshot()
    response = api(owner).post(f"{API}/profiles", body, "application/json")
    assert response.status_code == 400 and field in response.json()["fields"], response.content
    assert snapshot() == before


def test_a_duplicate_profile_name_is_a_400(owner, frozen):  # type: ignore[no-untyped-def]
    client = api(owner)
    body = {"name": "Twin", "vcpus": 1, "ram_mib": 512, "flavor_name": "f"}
    assert client.post(f"{API}/profiles", body, "application/json").status_code == 201
    before = snapshot()
    again = client.post(f"{API}/profiles", body, "application/json")
    assert again.status_code == 400 and "A profile with this name already exists." in again.content.decode()
    assert snapshot() == before


# ---- prices ----------------------------------------------------------------------------------------


def test_prices_are_set_read_changed_and_removed(owner, offer):  # type: ignore[no-untyped-def]
    client = api(owner)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    url = f"{API}/offerings/{offer.pk}/pricing/{medium.pk}"
    set_ = client.put(
        url,
        {"model": "auction", "reserve_price": "0.05", "bidding_closes_seconds": 300, "clearing_rule": "uniform"},
        "application/json",
    )
    assert set_.status_code == 200, set_.content
    body = set_.json()
    assert (body["model"], body["currency"], body["reserve_price"], body["price_per_unit"]) == (
        "auction",
        "USD",
        "0.05",
        None,
    )
    policy = PricingPolicy.objects.get(offering=offer, profile=medium)
    assert policy.reserve_price == 5  # minor units
    assert audited("pricing.created", owner, set_).data["profile"] == "Medium"
    listed = client.get(f"{API}/offerings/{offer.pk}/pricing").json()
    assert [(p["profile_name"], p["model"]) for p in listed] == [("Small", "fixed"), ("Medium", "auction")]
    assert listed[0]["price_per_unit"] == "1.00"

    changed = client.put(url, {"model": "fixed", "price_per_unit": "0.25"}, "application/json")
    assert changed.json()["price_per_unit"] == "0.25" and changed.json()["reserve_price"] is None
    assert audited("pricing.updated", owner, changed).data["changes"]["price_per_unit"] == [None, 25]
    assert client.get(url).json()["price_per_unit"] == "0.25"

    assert client.delete(url).status_code == 204
    assert not PricingPolicy.objects.filter(offering=offer, profile=medium).exists()
    assert audited("pricing.deleted", owner).data == {"profile": "Medium"}
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "fixed", "price_per_unit": "0.001"}, "price_per_unit"),  # below a cent
        ({"model": "fixed", "price_per_unit": "-1"}, "price_per_unit"),
        ({"model": "fixed", "price_per_unit": "1e20"}, "price_per_unit"),
        ({"model": "fixed"}, "price_per_unit"),
        ({"model": "fixed", "price_per_unit": "1.00", "currency": "EUR"}, "currency"),  # the offering's is USD
        ({"model": "fixed", "price_per_unit": "100000"}, "price_per_unit"),  # above the maximum per hour
        ({"model": "barter"}, "model"),
        ({"model": "auction", "reserve_price": "0.10"}, "bidding_closes_seconds"),
        (
            {"model": "auction", "reserve_price": "0.1", "bidding_closes_seconds": 2**31, "clearing_rule": "uniform"},
            "bidding_closes_seconds",
        ),
        ({"model": "dynamic", "base_price": "1", "floor_price": "2", "cap_price": "1.5"}, "floor_price"),
        # 1e999 is read as an infinite float (the JSON text, not Python's "Infinity").
        (
            '{"model": "dynamic", "base_price": "1", "floor_price": "0.5", "cap_price": "2", '
            '"surge_curve": [[0, 1], [50, 1e999]]}',
            "surge_curve",
        ),
        (
            {
                "model": "dynamic",
                "base_price": "1",
                "floor_price": "0.5",
                "cap_price": "2",
                "surge_curve": [[50, 1], [10, 2]],
            },
            "surge_curve",
        ),
    ],
)
def test_bad_prices_are_a_400_on_the_field_and_nothing_is_written(owner, offer, body, field):  # type: ignore[no-untyped-def]
    before = snapshot()
    url = f"{API}/offerings/{offer.pk}/pricing/{SliceProfile.objects.get(owner=None, name='Medium').pk}"
    response = api(owner).put(url, body, "application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()
    assert snapshot() == before


def test_a_profile_too_big_or_not_the_owners_cannot_be_priced(owner, other_owner, offer):  # type: ignore[no-untyped-def]
    theirs = owner_services.profile_create(
        actor=other_owner, name="Theirs", vcpus=1, ram_mib=512, disk_gb=0, bandwidth_mbps=0, flavor_name="t"
    )
    client = api(owner)
    before = snapshot()
    url = f"{API}/offerings/{offer.pk}/pricing"
    assert (
        client.put(f"{url}/{theirs.pk}", {"model": "fixed", "price_per_unit": "1"}, "application/json").status_code
        == 404
    )
    big = owner_services.profile_create(
        actor=owner, name="Huge", vcpus=64, ram_mib=512, disk_gb=0, bandwidth_mbps=0, flavor_name="h"
    )
    before = snapshot()
    too_big = client.put(f"{url}/{big.pk}", {"model": "fixed", "price_per_unit": "1"}, "application/json")
    assert too_big.status_code == 400 and "profile" in too_big.json()["fields"]
    assert snapshot() == before


# ---- bookings on the owner's offerings ----------------------------------------------------------------


def test_the_owner_sees_bookings_on_their_offerings_with_the_renters_handle_only(owner, offer, booked, renter):  # type: ignore[no-untyped-def]
    other = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    second = engine.booking_request(actor=renter, slice_id=factories.slice_id(other, T10, 300))
    client = api(owner)
    response = client.get(f"{API}/bookings")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and [b["id"] for b in body["results"]] == [second.pk, booked.pk]
    row = body["results"][1]
    assert (row["renter"], row["offering"], row["state"], row["total_price"], row["duration"]) == (
        renter.handle,
        offer.pk,
        "confirmed",
        "10.00",
        600,
    )
    assert renter.email not in response.content.decode()
    assert not {"ssh_cidrs", "has_user_data", "user_data"} & set(row)
    assert [b["id"] for b in client.get(f"{API}/bookings?offering={other.pk}").json()["results"]] == [second.pk]
    assert client.get(f"{API}/bookings?state=notice").json()["count"] == 0
    assert client.get(f"{API}/bookings?limit=1").json()["next"]
    assert client.get(f"{API}/bookings/{booked.pk}").json() == row
    for bad, field in (
        ("state=sleeping", "state"),
        ("offering=0", "offering"),
        ("offering=x", "offering"),
        ("limit=1000", "limit"),
    ):
        refused = client.get(f"{API}/bookings?{bad}")
        assert refused.status_code == 400 and field in refused.json()["fields"], bad


# ---- preemption ------------------------------------------------------------------------------------


def test_preview_then_preempt_a_booking_the_renter_is_told_the_deadline(owner, offer, booked, renter, frozen):  # type: ignore[no-untyped-def]
    client = api(owner)
    url = f"{API}/bookings/{booked.pk}/preempt"
    before = snapshot()
    preview = client.post(f"{url}?preview=1", {"notice_seconds": 60}, "application/json")
    assert preview.status_code == 200, preview.content
    assert preview.json() == {
        "preview": True,
        "offering": offer.pk,
        "count": 1,
        "notices": [
            {
                "booking": booked.pk,
                "state": "confirmed",
                "notice_seconds": 60,
                "deadline": "2026-11-30T08:01:00Z",
                "runs_to_end": False,
            }
        ],
    }
    assert snapshot() == before  # a preview does nothing

    done = client.post(url, {"notice_seconds": 60, "reason": "Disk swap."}, "application/json")
    assert done.status_code == 200, done.content
    assert done.json()["notices"] == [
        {
            "booking": booked.pk,
            "state": "notice",
            "notice_seconds": 60,
            "deadline": "2026-11-30T08:01:00Z",
            "runs_to_end": False,
        }
    ]
    assert done.json()["preview"] is False
    b = Booking.objects.get(pk=booked.pk)
    assert (b.state, b.preempt_deadline, b.reason) == ("notice", NOW + timedelta(seconds=60), "Disk swap.")
    told = Notification.objects.get(user=renter, kind="preemption_notice")
    assert "2026-11-30 08:01:00 UTC" in told.body and "Disk swap." in told.body
    assert audited("booking.notice", owner, done).data["deadline"] == "2026-11-30T08:01:00+00:00"
    assert client.get(f"{API}/bookings/{booked.pk}").json()["preempt_deadline"] == "2026-11-30T08:01:00Z"

    again = client.post(url, {"notice_seconds": 60}, "application/json")
    assert again.status_code == 409 and Notification.objects.filter(user=renter).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notice_seconds": -1}, "notice_seconds"),
        ({"notice_seconds": 2**31}, "notice_seconds"),
        ({"notice_seconds": 10**6}, "notice_seconds"),  # above the market's maximum (the service's bound)
        ({"notice_seconds": "soon"}, "notice_seconds"),
        ({"reason": "x" * 201}, "reason"),
    ],
)
def test_bad_preemption_input_is_a_400_and_nobody_is_told(owner, offer, booked, body, field):  # type: ignore[no-untyped-def]
    client = api(owner)
    before = snapshot()
    for url in (f"{API}/bookings/{booked.pk}/preempt", f"{API}/offerings/{offer.pk}/preempt"):
        for suffix in ("", "?preview=1"):
            response = client.post(url + suffix, body, "application/json")
            assert response.status_code == 400, (url, response.content)
            assert field in response.json()["fields"]
    assert snapshot() == before


def test_preempting_a_whole_offering_tells_every_renter_their_deadline(owner, offer, booked, frozen):  # type: ignore[no-untyped-def]
    other = factories.renter()
    factories.fund_renter(other, 100_000)
    later = engine.booking_request(actor=other, slice_id=factories.slice_id(offer, T10 + timedelta(hours=1), 60))
    client = api(owner)
    url = f"{API}/offerings/{offer.pk}/preempt"
    preview = client.post(f"{url}?preview=1", {}, "application/json").json()
    assert (preview["preview"], preview["count"]) == (True, 2)
    assert {n["notice_seconds"] for n in preview["notices"]} == {120}  # the offering's own notice
    assert Booking.objects.filter(state="notice").count() == 0

    done = client.post(url, {"notice_seconds": 30, "reason": "Rack move."}, "application/json")
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["preview"], body["count"]) == (False, 2)
    assert [(n["booking"], n["state"], n["deadline"]) for n in body["notices"]] == [
        (booked.pk, "notice", "2026-11-30T08:00:30Z"),
        (later.pk, "notice", "2026-11-30T08:00:30Z"),
    ]
    for b in (booked, later):
        note = Notification.objects.get(booking_id=b.pk, kind="preemption_notice")
        assert "2026-11-30 08:00:30 UTC" in note.body and note.user_id == b.renter_id
    assert audited("offering.preempted", owner, done).data == {
        "bookings": 2,
        "notice_seconds": 30,
        "reason": "Rack move.",
    }


# ---- revenue ---------------------------------------------------------------------------------------


def test_revenue_per_currency_offering_and_day(history, owner, renter, other_owner):  # type: ignore[no-untyped-def]  # noqa: F811
    offer = history["offer"]
    with time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False):
        client = api(owner)
        response = client.get(f"{API}/revenue?from=2026-12-01&to=2026-12-01")
        assert response.status_code == 200, response.content
        body = response.json()
        amounts = {"gross": 850, "fees": 85, "credits": 200, "net": 565}
        assert body["from"] == body["to"] == "2026-12-01"
        assert body["totals"] == [{"currency": "USD", **amounts}]
        assert body["offerings"] == [{"offering": offer.pk, "offering_name": "Rack A", "currency": "USD", **amounts}]
        assert body["days"] == [{"day": "2026-12-01", "offering": offer.pk, "currency": "USD", **amounts}]
        assert body["payable"] == {"USD": 565}
        # The default period (the last 31 days) holds the same; a day without charges holds nothing.
        assert client.get(f"{API}/revenue").json()["totals"] == body["totals"]
        assert client.get(f"{API}/revenue?from=2026-12-02&to=2026-12-02").json()["totals"] == []
        # Another owner sees only their own (none).
        theirs = api(other_owner).get(f"{API}/revenue").json()
        assert (theirs["totals"], theirs["offerings"], theirs["payable"]) == ([], [], {})
        assert api(renter, scopes=["read", "owner"]).get(f"{API}/revenue").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-12-05&to=2026-12-01", "to"),
        ("from=2020-01-01&to=2026-12-01", "to"),  # longer than the market's maximum range
        ("from=1900-01-01&to=1900-01-02", "from"),
        ("to=2999-01-01", "to"),
        ("from=yesterday", "from"),
        ("from=2026-02-30", "from"),
    ],
)
def test_bad_revenue_ranges_are_a_400(owner, query, field):  # type: ignore[no-untyped-def]
    response = api(owner).get(f"{API}/revenue?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


# ---- the schema --------------------------------------------------------------------------------------


def test_the_schema_documents_every_owner_operation(owner):  # type: ignore[no-untyped-def]
    from tests.conftest import login

    paths = login(owner).get("/api/v1/schema?format=json").json()["paths"]
    expected = {
        "/api/v1/owner/clouds": {"get"},
        "/api/v1/owner/offerings": {"get", "post"},
        "/api/v1/owner/offerings/{offering_id}": {"get", "patch"},
        "/api/v1/owner/offerings/{offering_id}/status": {"post"},
        "/api/v1/owner/offerings/{offering_id}/windows": {"get", "post"},
        "/api/v1/owner/offerings/{offering_id}/windows/{window_id}": {"delete"},
        "/api/v1/owner/offerings/{offering_id}/pricing": {"get"},
        "/api/v1/owner/offerings/{offering_id}/pricing/{profile_id}": {"get", "put", "delete"},
        "/api/v1/owner/offerings/{offering_id}/preempt": {"post"},
        "/api/v1/owner/profiles": {"get", "post"},
        "/api/v1/owner/profiles/{profile_id}": {"get", "patch"},
        "/api/v1/owner/bookings": {"get"},
        "/api/v1/owner/bookings/{booking_id}": {"get"},
        "/api/v1/owner/bookings/{booking_id}/preempt": {"post"},
        "/api/v1/owner/revenue": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) >= methods, path
        for method in methods:
            op = paths[path][method]
            assert op.get("summary"), (path, method)
            assert op["responses"], (path, method)
            if method in ("post", "put", "patch") and not path.endswith("preempt"):
                assert "requestBody" in op, (path, method)


def test_lists_take_a_bounded_number_of_queries(owner, renter, frozen, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    factories.fund_renter(renter, 1_000_000)
    for n in range(4):
        offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10})
        factories.window(owner, offer, datetime(2026, 1, 1, 0).time(), datetime(2026, 1, 1, 23).time())
        engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(minutes=n), 60))
    client = api(owner)
    client.get(f"{API}/offerings")  # the token's first use is recorded once
    with django_assert_max_num_queries(6):
        assert client.get(f"{API}/offerings").json()["count"] == 4
    with django_assert_max_num_queries(6):
        assert client.get(f"{API}/bookings").json()["count"] == 4
