"""The user portal lists published offerings with filters; renters manage their SSH keys."""

from __future__ import annotations

from datetime import time

import pytest
from django.test import Client
from django.urls import reverse

from owners import services as owner_services
from renters.models import SSHPublicKey
from tests import factories
from tests.conftest import login
from tests.form_markup import error_beside, summary

pytestmark = pytest.mark.django_db
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl rita@laptop"


@pytest.fixture
def catalogue(owner, other_owner):
    cheap = factories.offering(
        owner,
        name="Cheap small",
        region="eu-west",
        publish=True,
        profile="Small",
        pricing={"model": "fixed", "price_per_unit": 5},
    )
    big = factories.offering(
        other_owner,
        name="Big iron",
        region="us-east",
        vcpus=64,
        ram_mib=262144,
        publish=True,
        profile="Large",
        pricing={"model": "fixed", "price_per_unit": 90},
    )
    night = factories.offering(owner, name="Night auction", region="eu-west", publish=False)
    factories.price(
        owner,
        night,
        profile="Medium",
        model="auction",
        reserve_price=3,
        bidding_closes_seconds=60,
        clearing_rule="uniform",
    )
    factories.window(owner, night, time(22), time(6))
    owner_services.offering_set_status(actor=owner, offering=night, status="published")
    factories.offering(owner, name="Still a draft", pricing={"model": "fixed", "price_per_unit": 1})
    return {"cheap": cheap, "big": big, "night": night}


def names(response) -> set[str]:
    body = response.content.decode()
    return {n for n in ("Cheap small", "Big iron", "Night auction", "Still a draft") if n in body}


def test_lists_only_published_offerings(catalogue):
    assert names(Client().get(reverse("renters:offering_browse"))) == {"Cheap small", "Big iron", "Night auction"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"cpu": 4}, {"Big iron"}),  # only Large (4 vCPU) is big enough
        ({"ram": "3"}, {"Big iron", "Night auction"}),  # GiB: Medium has 4, Large 8, Small 2
        ({"region": "eu-west"}, {"Cheap small", "Night auction"}),
        ({"max_price": "0.05", "currency": "USD"}, {"Cheap small", "Night auction"}),  # 5 and reserve 3 cents
        ({"max_price": "0.02", "currency": "USD"}, set()),
        ({"available_from": "2026-12-01T10:00", "available_to": "2026-12-01T12:00"}, {"Cheap small", "Big iron"}),
        (
            {"available_from": "2026-12-01T23:00", "available_to": "2026-12-01T23:30"},
            {"Cheap small", "Big iron", "Night auction"},
        ),
    ],
)
def test_filters(catalogue, query, expected):
    assert names(Client().get(reverse("renters:offering_browse"), query)) == expected


def test_bad_filter_input_is_explained_not_a_500(catalogue):
    response = Client().get(
        reverse("renters:offering_browse"), {"available_from": "2026-12-01T12:00", "available_to": "2026-12-01T10:00"}
    )
    assert response.status_code == 200
    assert "The end must be after the start." in response.content.decode()
    response = Client().get(reverse("renters:offering_browse"), {"max_price": "0.001", "currency": "USD"})
    assert "more than 2 decimal places" in response.content.decode()


def test_htmx_filter_returns_only_the_filters_and_results_fragment(catalogue):
    response = Client().get(reverse("renters:offering_browse"), {"cpu": 4}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="offering-search">') and "<html" not in body
    assert '<section id="results">' in body and "Big iron" in body and 'id="filters"' in body


def test_draft_offering_detail_is_not_public(catalogue, owner):
    draft = factories.offering(owner, name="hidden")
    assert Client().get(reverse("renters:offering_detail", args=[draft.pk])).status_code == 404
    assert Client().get(reverse("renters:offering_detail", args=[catalogue["cheap"].pk])).status_code == 200


def test_ssh_key_add_validate_and_remove():
    renter = factories.renter(ssh_key=False)
    client = login(renter)
    response = client.post(reverse("renters:ssh_keys"), {"name": "laptop", "public_key": "ssh-ed25519 not-base64!"})
    assert "The key body is not valid base64." in response.content.decode()
    response = client.post(reverse("renters:ssh_keys"), {"name": "laptop", "public_key": "ssh-dss AAAA"})
    assert "Unsupported key type" in response.content.decode()
    assert not SSHPublicKey.objects.exists()

    assert client.post(reverse("renters:ssh_keys"), {"name": "laptop", "public_key": ED25519}).status_code == 302
    key = SSHPublicKey.objects.get(user=renter)
    assert key.fingerprint.startswith("SHA256:") and key.public_key == ED25519
    dup = client.post(reverse("renters:ssh_keys"), {"name": "again", "public_key": ED25519})
    assert "already added this key" in dup.content.decode()

    other = login(factories.renter())
    other.post(reverse("renters:ssh_key_remove", args=[key.pk]))
    assert SSHPublicKey.objects.filter(pk=key.pk).exists()
    client.post(reverse("renters:ssh_key_remove", args=[key.pk]))
    assert not SSHPublicKey.objects.filter(pk=key.pk).exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_bad_filters_are_refused_beside_their_fields(catalogue, htmx):
    query = {"available_from": "2026-12-01T12:00", "available_to": "2026-12-01T10:00", "cpu": "0"}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    html = Client().get(reverse("renters:offering_browse"), query, **headers).content.decode()
    assert error_beside(html, "id_available_to") == "The end must be after the start."
    assert "greater than or equal to 1" in error_beside(html, "id_cpu")
    assert summary(html) == "Please correct the 2 fields marked below."
    assert html.count("The end must be after the start.") == 1
    html = Client().get(reverse("renters:offering_browse"), {"max_price": "1"}, **headers).content.decode()
    assert "Choose the currency" in error_beside(html, "id_currency")
