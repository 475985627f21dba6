"""The owner's standby servers in the portal and the owner API: who may see and change them, a pool set
through the service (held back from sale, refill sent on commit), the capacity guard's refusal shown on
the field with nothing changed, and the market's public page saying what is held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from owners import services as owner_services
from owners.models import Offering, SliceProfile, StandbyPool
from provisioning import services as provisioning_services
from provisioning.models import Server, SimulatedResource
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def travel():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0 - timedelta(hours=1), tick=False) as t:
        yield t


@pytest.fixture
def offering(owner, travel, settings):  # type: ignore[no-untyped-def]
    """Room for exactly two Small servers, published, priced in Small and Medium."""
    settings.SIMULATOR_LAUNCH_SECONDS = 0
    offer = factories.offering(
        owner,
        publish=True,
        vcpus=2,
        ram_mib=4096,
        disk_gb=40,
        bandwidth_mbps=500,
        allowed_images=["ubuntu-24.04", "debian-12"],
    )
    factories.price(owner, offer, profile="Medium")
    return offer


def _small() -> SliceProfile:
    return SliceProfile.objects.get(owner=None, name="Small")


def _state(offering: Offering) -> tuple:
    offering.refresh_from_db()
    return (
        list(StandbyPool.objects.order_by("pk").values_list("pk", "profile_id", "image", "size")),
        (offering.standby_vcpus, offering.standby_ram_mib, offering.standby_disk_gb),
        Server.objects.count(),
    )


def _urls(offering: Offering) -> list[tuple[str, str, dict]]:
    pk = offering.pk
    form = {"profile": _small().pk, "image": "ubuntu-24.04", "size": 1}
    return [
        ("get", reverse("provisioning:offering_standby", args=[pk]), {}),
        ("post", reverse("provisioning:offering_standby", args=[pk]), form),
        ("get", reverse("provisioning:offering_adopt", args=[pk]), {}),
        ("post", reverse("provisioning:offering_adopt", args=[pk]), {"pool": "1", "external_id": "x"}),
    ]


def _api(offering: Offering) -> str:
    return f"/api/v1/owner/offerings/{offering.pk}/standby"


# ---- who may see and change the standby servers -------------------------------------------------------


def test_anonymous_is_sent_to_login_and_the_api_answers_json_401(offering):  # type: ignore[no-untyped-def]
    before = _state(offering)
    client = Client()
    for method, url, data in _urls(offering):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url
    for response in (
        client.get(_api(offering)),
        client.put(_api(offering), {"profile": 1, "size": 1}, "application/json"),
    ):
        assert response.status_code in (401, 403)
        assert response["Content-Type"].startswith("application/json")
        assert "error" in response.json()
    assert _state(offering) == before


def test_a_renter_is_refused(renter, offering):  # type: ignore[no-untyped-def]
    before = _state(offering)
    client = login(renter)
    for method, url, data in _urls(offering):
        assert getattr(client, method)(url, data).status_code == 403, url
    # The owner API is for owners, as the owner portal is: a 403 before any offering is looked up.
    assert client.get(_api(offering)).status_code == 403
    put = client.put(_api(offering), {"profile": _small().pk, "size": 1}, "application/json")
    assert put.status_code == 403 and put.json()["error"] == "forbidden"
    assert _state(offering) == before


def test_another_owner_cannot_see_or_change_the_pool(other_owner, offering):  # type: ignore[no-untyped-def]
    owner_services.standby_pool_set(actor=offering.owner, offering=offering, profile=_small(), size=1)
    before = _state(offering)
    client = login(other_owner)
    for method, url, data in _urls(offering):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert client.get(_api(offering)).status_code == 404
    assert client.put(_api(offering), {"profile": _small().pk, "size": 0}, "application/json").status_code == 404
    assert _state(offering) == before


def test_the_owner_and_staff_see_the_pages(owner, staff, offering):  # type: ignore[no-untyped-def]
    for user in (owner, staff):
        client = login(user)
        for method, url, _data in _urls(offering):
            if method == "get":
                assert client.get(url).status_code == 200, (user, url)
        assert client.get(_api(offering)).status_code == 200
    detail = login(owner).get(reverse("owners:offering_detail", args=[offering.pk])).content.decode()
    assert reverse("provisioning:offering_standby", args=[offering.pk]) in detail


def test_a_token_needs_the_owner_scope(owner, offering):  # type: ignore[no-untyped-def]
    _, market_only = api_token_create(actor=owner, name="market", scopes=["read", "market"])
    _, owner_token = api_token_create(actor=owner, name="owner", scopes=["owner"])
    refused = Client().get(_api(offering), HTTP_AUTHORIZATION=f"Bearer {market_only}")
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert Client().get(_api(offering), HTTP_AUTHORIZATION=f"Bearer {owner_token}").status_code == 200


# ---- setting a pool ------------------------------------------------------------------------------------


def test_the_owner_sets_a_pool_it_is_held_back_and_refilled(  # type: ignore[no-untyped-def]
    owner, offering, django_capture_on_commit_callbacks
):
    client = login(owner)
    url = reverse("provisioning:offering_standby", args=[offering.pk])
    with django_capture_on_commit_callbacks() as sent:
        response = client.post(url, {"profile": _small().pk, "image": "debian-12", "size": 1})
    assert response.status_code == 302
    pool = StandbyPool.objects.get(offering=offering)
    assert (pool.profile, pool.image, pool.size) == (_small(), "debian-12", 1)
    assert [cb.args for cb in sent] == [("provisioning.refill_pool", pool.pk)]
    offering.refresh_from_db()
    assert offering.sellable_capacity() == {"vcpus": 1, "ram_mib": 2048, "disk_gb": 20, "bandwidth_mbps": 250}
    # What the task does (provisioning.refill_pool): boot the server the pool lacks.
    assert provisioning_services.pool_refill(pool_id=pool.pk) == 1
    page = client.get(url).content.decode()
    assert "Standby (wiped, idle, waiting for a renter)" in page and "debian-12" in page
    assert "<td>vCPU</td><td>1</td><td>2</td><td>1</td>" in page.replace("\n", "")


def test_the_guards_refusal_is_a_field_error_and_changes_nothing(  # type: ignore[no-untyped-def]
    owner, renter, offering, django_capture_on_commit_callbacks
):
    booking(renter, offering, starts_at=T0, seconds=600)
    booking(renter, offering, starts_at=T0, seconds=600)  # the two Smalls the offering holds
    before = _state(offering)
    with django_capture_on_commit_callbacks() as sent:
        response = login(owner).post(
            reverse("provisioning:offering_standby", args=[offering.pk]),
            {"profile": _small().pk, "image": "ubuntu-24.04", "size": 1},
        )
    assert response.status_code == 400
    page = response.content.decode()
    error = page.split('data-testid="error-size">', 1)[1].split("</small>", 1)[0]
    assert "Standby servers cannot take" in error and "10:00:00" in error
    assert _state(offering) == before and sent == []


def test_a_profile_the_offering_does_not_price_is_refused(owner, offering):  # type: ignore[no-untyped-def]
    large = SliceProfile.objects.get(owner=None, name="Large")
    response = login(owner).post(
        reverse("provisioning:offering_standby", args=[offering.pk]), {"profile": large.pk, "size": 1}
    )
    assert response.status_code == 400 and 'data-testid="error-profile"' in response.content.decode()
    assert not StandbyPool.objects.exists()


def test_the_api_lists_and_sets_pools(owner, offering, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    client = login(owner)
    with django_capture_on_commit_callbacks() as sent:
        response = client.put(
            _api(offering), {"profile": _small().pk, "image": "ubuntu-24.04", "size": 2}, "application/json"
        )
    assert response.status_code == 200, response.content
    pool = StandbyPool.objects.get(offering=offering)
    assert [cb.args for cb in sent] == [("provisioning.refill_pool", pool.pk)]
    provisioning_services.pool_refill(pool_id=pool.pk)
    body = client.get(_api(offering)).json()
    assert body["held_back"] == {"vcpus": 2, "ram_mib": 4096, "disk_gb": 40, "bandwidth_mbps": 500}
    assert body["sellable"] == {"vcpus": 0, "ram_mib": 0, "disk_gb": 0, "bandwidth_mbps": 0}
    [row] = body["pools"]
    assert (row["profile"], row["profile_name"], row["image"], row["size"]) == (_small().pk, "Small", "ubuntu-24.04", 2)
    assert row["servers"] == {"pending": 0, "building": 0, "standby": 2, "wiping": 0}


def test_the_api_refuses_bad_input_in_json(owner, renter, offering):  # type: ignore[no-untyped-def]
    client = login(owner)
    for data, field in (
        ({"profile": _small().pk, "size": 65}, "size"),
        ({"profile": "x", "size": 1}, "profile"),
        ({"profile": SliceProfile.objects.get(owner=None, name="Large").pk, "size": 1}, "profile"),
        ({"profile": _small().pk, "image": "windows", "size": 1}, "image"),
    ):
        response = client.put(_api(offering), data, "application/json")
        assert response.status_code == 400, data
        assert field in response.json()["fields"], response.json()
    booking(renter, offering, starts_at=T0, seconds=600)
    booking(renter, offering, starts_at=T0, seconds=600)
    refused = client.put(_api(offering), {"profile": _small().pk, "size": 1}, "application/json")
    assert refused.status_code == 400
    assert "10:00:00" in " ".join(refused.json()["fields"]["size"])
    assert not StandbyPool.objects.filter(size__gt=0).exists()


def test_the_schema_names_the_owner_endpoint(owner):  # type: ignore[no-untyped-def]
    schema = login(owner).get("/api/v1/schema?format=json").json()
    path = schema["paths"]["/api/v1/owner/offerings/{offering_id}/standby"]
    assert set(path) >= {"get", "put"}


# ---- the market says what is held back ------------------------------------------------------------


def test_the_public_offering_page_shows_what_is_held_back(owner, renter, offering):  # type: ignore[no-untyped-def]
    url = reverse("renters:offering_detail", args=[offering.pk])
    assert 'data-testid="standby-held"' not in login(renter).get(url).content.decode()
    owner_services.standby_pool_set(actor=owner, offering=offering, profile=_small(), size=1)
    page = login(renter).get(url).content.decode()
    line = page.split('data-testid="standby-held">', 1)[1].split("</p>", 1)[0]
    assert "1 server held as standby (so slices start at once); capacity for sale:" in line
    assert "1 vCPU · 2 GiB · 20 GB · 250 Mbit/s" in " ".join(line.split())


def test_adopt_page_lists_only_untracked_servers_and_says_they_are_rebuilt(owner, offering):  # type: ignore[no-untyped-def]
    SimulatedResource.objects.create(
        cloud=offering.cloud, kind="server", external_id="pre-existing-1", name="owner-vm", data={"flavor": "m1.small"}
    )
    pool = owner_services.standby_pool_set(actor=owner, offering=offering, profile=_small(), size=1)
    provisioning_services.pool_refill(pool_id=pool.pk)  # one marketplace server, tracked
    page = login(owner).get(reverse("provisioning:offering_adopt", args=[offering.pk])).content.decode()
    assert "Adopted servers are rebuilt (their disk replaced) before the first renter gets them." in page
    assert "owner-vm" in page and "mkt-standby-" not in page


def test_an_offering_that_allows_any_image_names_the_pools_image(owner, travel):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True, allowed_images=[])
    url = reverse("provisioning:offering_standby", args=[offer.pk])
    client = login(owner)
    assert 'type="text" name="image"' in client.get(url).content.decode()
    assert client.post(url, {"profile": _small().pk, "image": "alpine-3.20", "size": 1}).status_code == 302
    assert StandbyPool.objects.get(offering=offer).image == "alpine-3.20"
