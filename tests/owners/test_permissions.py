"""Every owner URL: the owner gets in; another owner, a renter and an anonymous user are refused
and a refused POST changes nothing."""

from __future__ import annotations

from datetime import time

import pytest
from django.test import Client
from django.urls import reverse

from owners.models import AvailabilityWindow, Cloud, Offering, PricingPolicy
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(owner):
    cloud = factories.cloud(owner, name="mine")
    offer = factories.offering(owner, on=cloud, name="my offering")
    policy = factories.price(owner, offer)
    win = factories.window(owner, offer, time(8), time(18))
    from owners.services import profile_create

    profile = profile_create(actor=owner, name="custom", vcpus=2, ram_mib=2048, flavor_name="c2")
    return {"cloud": cloud, "offering": offer, "policy": policy, "window": win, "profile": profile}


def owner_urls(e) -> list[tuple[str, str]]:
    c, o, p, w, prof = e["cloud"].pk, e["offering"].pk, e["policy"].pk, e["window"].pk, e["profile"].pk
    return [
        ("get", reverse("owners:dashboard")),
        ("get", reverse("owners:cloud_create")),
        ("get", reverse("owners:cloud_detail", args=[c])),
        ("get", reverse("owners:cloud_edit", args=[c])),
        ("post", reverse("owners:cloud_test", args=[c])),
        ("post", reverse("owners:cloud_delete", args=[c])),
        ("get", reverse("owners:offering_create")),
        ("get", reverse("owners:offering_detail", args=[o])),
        ("get", reverse("owners:offering_edit", args=[o])),
        ("post", reverse("owners:offering_status", args=[o])),
        ("post", reverse("owners:window_add", args=[o])),
        ("post", reverse("owners:window_remove", args=[o, w])),
        ("get", reverse("owners:pricing_create", args=[o])),
        ("get", reverse("owners:pricing_edit", args=[o, p])),
        ("post", reverse("owners:pricing_delete", args=[o, p])),
        ("get", reverse("owners:profile_list")),
        ("get", reverse("owners:profile_create")),
        ("get", reverse("owners:profile_edit", args=[prof])),
    ]


# Object URLs name one of the owner's things; list/create pages are open to any owner.
OBJECT_URL_NAMES = (
    "cloud_detail",
    "cloud_edit",
    "cloud_test",
    "cloud_delete",
    "offering_detail",
    "offering_edit",
    "offering_status",
    "window_add",
    "window_remove",
    "pricing_edit",
    "pricing_delete",
    "pricing_create",
    "profile_edit",
)


def _state(e) -> tuple:
    return (
        list(Cloud.objects.order_by("pk").values_list("pk", "name", "last_checked_at")),
        list(Offering.objects.order_by("pk").values_list("pk", "status", "name")),
        list(AvailabilityWindow.objects.order_by("pk").values_list("pk", "start_time")),
        list(PricingPolicy.objects.order_by("pk").values_list("pk", "price_per_unit")),
    )


def test_owner_reaches_every_url(owner, estate):
    client = login(owner)
    for method, url in owner_urls(estate):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login_everywhere(estate):
    before = _state(estate)
    client = Client()
    for method, url in owner_urls(estate):
        response = getattr(client, method)(
            url, {"status": "retired", "weekdays": [1], "start_time": "01:00", "end_time": "02:00"}
        )
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url
    assert _state(estate) == before


def test_renter_is_refused_everywhere(renter, estate):
    before = _state(estate)
    client = login(renter)
    for method, url in owner_urls(estate):
        response = getattr(client, method)(url, {"status": "retired"})
        assert response.status_code == 403, url
    assert _state(estate) == before


def test_other_owner_cannot_see_or_change_anything(other_owner, estate):
    before = _state(estate)
    client = login(other_owner)
    for method, url in owner_urls(estate):
        response = getattr(client, method)(
            url, {"status": "retired", "weekdays": [1], "start_time": "01:00", "end_time": "02:00", "name": "stolen"}
        )
        if any(url == reverse(f"owners:{n}", args=_args(n, estate)) for n in OBJECT_URL_NAMES):
            assert response.status_code == 404, url
        else:
            assert response.status_code == 200, url
    assert _state(estate) == before
    # Their own dashboard does not list the other owner's things.
    page = client.get(reverse("owners:dashboard")).content.decode()
    assert "my offering" not in page and ">mine<" not in page


def _args(name: str, e) -> list[int]:
    c, o, p, w, prof = e["cloud"].pk, e["offering"].pk, e["policy"].pk, e["window"].pk, e["profile"].pk
    return {
        "cloud_detail": [c],
        "cloud_edit": [c],
        "cloud_test": [c],
        "cloud_delete": [c],
        "offering_detail": [o],
        "offering_edit": [o],
        "offering_status": [o],
        "window_add": [o],
        "window_remove": [o, w],
        "pricing_create": [o],
        "pricing_edit": [o, p],
        "pricing_delete": [o, p],
        "profile_edit": [prof],
    }[name]


def test_other_owner_cannot_create_an_offering_on_my_cloud(other_owner, estate):
    client = login(other_owner)
    response = client.post(
        reverse("owners:offering_create"),
        {
            "cloud": estate["cloud"].pk,
            "name": "sneaky",
            "vcpus": 1,
            "ram_mib": 1024,
            "disk_gb": 1,
            "bandwidth_mbps": 1,
            "grid_seconds": 60,
            "min_length_seconds": 60,
            "max_length_seconds": 60,
            "timezone": "UTC",
            "preemption_notice_seconds": 60,
        },
    )
    assert response.status_code == 200  # the form again, with the cloud refused as an invalid choice
    assert "Select a valid choice" in response.content.decode()
    assert not Offering.objects.filter(name="sneaky").exists()


def test_selectors_show_only_own_objects(owner, other_owner, estate):
    from owners import selectors

    theirs = factories.cloud(other_owner)
    assert list(selectors.clouds_for(owner)) == [estate["cloud"]]
    assert list(selectors.clouds_for(other_owner)) == [theirs]
    assert list(selectors.offerings_for_owner(other_owner)) == []
