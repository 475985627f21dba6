"""Search keeps the published catalogue per process, keyed by a version the database bumps on every
catalogue write (scheduling/sql/catalogue_version.sql). These tests change the catalogue in every way an owner
or another process can and check that the very next search shows it: a renter never sees a price,
window or offering that is no longer so."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from owners import services as owner_services
from owners.models import SliceProfile
from tests import factories
from tests.market_fixtures import commit_elsewhere

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/timeslots?cpu=1&ram=2&start=2026-12-01T10:00:00Z&end=2026-12-01T11:00:00Z&duration=600"


@pytest.fixture
def api(renter):  # type: ignore[no-untyped-def]
    c = APIClient()
    c.force_authenticate(renter)
    return c


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def prices(api) -> set[str]:  # type: ignore[no-untyped-def]
    r = api.get(SEARCH)
    assert r.status_code == 200, r.content
    return {s["unit_price"] for s in r.json()["results"]}


def test_a_new_price_shows_in_the_next_search(api, owner, offer):
    assert prices(api) == {"0.25"}
    factories.price(owner, offer, price_per_unit=30)
    assert prices(api) == {"0.30"}


def test_a_paused_offering_disappears_and_a_new_one_appears(api, owner, offer):
    assert prices(api) == {"0.25"}
    owner_services.offering_set_status(actor=owner, offering=offer, status="paused")
    assert prices(api) == set()
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 40})
    assert prices(api) == {"0.40"}


def test_a_window_change_shows_in_the_next_search(api, owner, offer):
    assert api.get(SEARCH).json()["results"][0]["start"] == "2026-12-01T10:00:00Z"
    factories.window(owner, offer, time(10, 30), time(18, 0))  # offering time zone is UTC
    assert api.get(SEARCH).json()["results"][0]["start"] == "2026-12-01T10:30:00Z"


def test_a_profile_change_shows_in_the_next_search(api, owner):
    custom = owner_services.profile_create(
        actor=owner, name="Tiny", vcpus=1, ram_mib=2048, disk_gb=10, bandwidth_mbps=100, flavor_name="m1.tiny"
    )
    factories.offering(owner, publish=True, profile=custom, pricing={"model": "fixed", "price_per_unit": 10})
    assert {s["profile"]["name"] for s in api.get(SEARCH).json()["results"]} == {"Tiny"}
    owner_services.profile_update(actor=owner, profile=custom, name="Tiny v2")
    assert {s["profile"]["name"] for s in api.get(SEARCH).json()["results"]} == {"Tiny v2"}


def test_a_change_rolled_back_leaves_no_trace(api, owner, offer):
    """A search inside a transaction that changes the catalogue caches what it saw; after the
    rollback another change gets a different version, so that stale catalogue is never used."""
    assert prices(api) == {"0.25"}
    with pytest.raises(RuntimeError), transaction.atomic():
        factories.price(owner, offer, price_per_unit=99)
        assert prices(api) == {"0.99"}  # the writer sees its own change at once
        raise RuntimeError("roll back")
    # No search in between: the process still holds what it saw inside the rolled-back transaction.
    factories.price(owner, offer, price_per_unit=31)  # a different change after the rollback
    assert prices(api) == {"0.31"}
    factories.price(owner, offer, price_per_unit=25)
    assert prices(api) == {"0.25"}


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_connection_shows_at_once(api, owner, offer):
    """Another process (here: another thread with its own connection) changes a price in raw SQL,
    bypassing every Python path; this process's next search sees it."""
    assert prices(api) == {"0.25"}
    policy_id = offer.pricing_policies.get().pk

    commit_elsewhere("UPDATE owners_pricingpolicy SET price_per_unit = 45 WHERE id = %s", [policy_id])
    assert prices(api) == {"0.45"}


def test_every_catalogue_table_bumps_the_version(owner, offer):
    def version() -> str:
        with connection.cursor() as cur:
            cur.execute("SELECT scheduling_catalogue_fingerprint()")
            return cur.fetchone()[0]

    seen = [version()]
    for table in ("owners_offering", "owners_pricingpolicy", "owners_sliceprofile", "owners_availabilitywindow"):
        with connection.cursor() as cur:
            cur.execute(f"UPDATE {table} SET id = id WHERE false")  # changes no row, still fires
        seen.append(version())
    assert len(set(seen)) == len(seen), seen
    assert SliceProfile.objects.filter(owner=None).exists()


def test_slice_ids_are_stable_and_bound_to_the_secret(settings, offer):
    from scheduling.slices import SliceKey, decode_slice_id, encode_slice_id

    key = SliceKey(
        offer.pk, offer.pricing_policies.get().profile_id, int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()), 60
    )
    first = encode_slice_id(key)
    assert encode_slice_id(key) == first and decode_slice_id(first) == key
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-0123456789-0123456789-0123456789-0123"
    settings.SECRET_KEY_FALLBACKS = []
    assert encode_slice_id(key) != first
    from marketplace.lib.errors import NotFoundError

    with pytest.raises(NotFoundError):
        decode_slice_id(first)  # signed with a secret no longer trusted
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert decode_slice_id(first) == key  # ids from before a key rotation still work
