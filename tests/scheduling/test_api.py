"""The timeslots API: the seed's exact paths, permissions, clear JSON errors with the right status."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from scheduling.models import Booking
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SEARCH = "/api/v1/timeslots?cpu=1&ram=2&start=2026-12-01T10:00:00Z&end=2026-12-01T11:00:00Z"


def client_for(user=None):  # type: ignore[no-untyped-def]
    c = APIClient()
    if user is not None:
        c.force_authenticate(user)
    return c


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, region="eu-1")


def test_search_lists_slices_with_prices_and_an_opaque_id(renter, offer):
    r = client_for(renter).get(SEARCH + "&duration=600&ordering=start")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["count"] == 3  # per_offering default: the three earliest starts
    first = body["results"][0]
    assert first["start"] == "2026-12-01T10:00:00Z" and first["end"] == "2026-12-01T10:10:00Z"
    assert (first["unit_price"], first["total_price"], first["currency"]) == ("0.25", "2.50", "USD")
    assert first["pricing_model"] == "fixed" and first["auction"] is None
    assert first["offering"] == {"id": offer.pk, "name": offer.name, "region": "eu-1"}
    assert first["profile"]["name"] == "Small"
    assert first["id"] == factories.slice_id(offer, T10, 600)
    assert [s["start"] for s in body["results"]] == [
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:01:00Z",
        "2026-12-01T10:02:00Z",
    ]


def test_search_filters_needs_region_price_and_skips_full_periods(renter, offer, owner):
    c = client_for(renter)
    assert c.get(SEARCH.replace("cpu=1", "cpu=2")).json()["count"] == 0  # Small has 1 vCPU
    assert c.get(SEARCH + "&region=elsewhere").json()["count"] == 0
    assert c.get(SEARCH + "&max_price=0.24").json()["count"] == 0
    # Without a length, each offering's shortest slice (issue 12: the whole range hid offerings open
    # for part of it): the three earliest one-minute starts.
    assert c.get(SEARCH + "&max_price=0.25").json()["count"] == 3
    assert c.get(SEARCH + "&max_price=0.25&duration=600").json()["count"] == 3
    for _ in range(4):  # fill 10:00-10:30
        c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 1800)}/request", {}, format="json")
    starts = [s["start"] for s in c.get(SEARCH + "&duration=600&ordering=start").json()["results"]]
    assert starts[0] == "2026-12-01T10:30:00Z"


def test_search_respects_windows_and_paused_offerings(renter, owner):
    offer = factories.offering(owner, publish=True)
    factories.window(owner, offer, time(10, 40), time(12))
    starts = [s["start"] for s in client_for(renter).get(SEARCH + "&duration=600").json()["results"]]
    assert starts == ["2026-12-01T10:40:00Z", "2026-12-01T10:41:00Z", "2026-12-01T10:42:00Z"]


def test_search_shows_auction_state_and_dynamic_price(renter, owner):
    auction = factories.auction_offering(owner, reserve=10, closes=600)
    dyn = factories.dynamic_offering(owner, base=100)
    results = client_for(renter).get(SEARCH + "&duration=600&ordering=start&per_offering=1").json()["results"]
    by_model = {s["pricing_model"]: s for s in results}
    assert by_model["auction"]["auction"]["reserve_price"] == "0.10"
    assert by_model["auction"]["auction"]["closes_at"] == "2026-12-01T09:50:00Z"
    assert by_model["dynamic"]["unit_price"] == "1.00"
    assert by_model["dynamic"]["offering"]["id"] == dyn.pk and by_model["auction"]["offering"]["id"] == auction.pk


@pytest.mark.parametrize(
    "query", ["?start=yesterday", "?cpu=0", "?ordering=random", "?start=2026-12-01T11:00:00Z&end=2026-12-01T10:00:00Z"]
)
def test_search_bad_input_is_400_with_a_message(renter, query):
    r = client_for(renter).get("/api/v1/timeslots" + query)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid" and r.json()["detail"]


def test_request_confirms_and_usage_shows_times_and_charges(renter, offer):
    c = client_for(renter)
    sid = factories.slice_id(offer, T10, 600)
    r = c.post(f"/api/v1/timeslots/{sid}/request", {"duration": 300}, format="json")
    assert r.status_code == 201, r.content
    b = r.json()
    assert (b["state"], b["duration"], b["total_price"], b["unit_price"]) == ("confirmed", 300, "1.25", "0.25")
    assert b["slice_id"] == factories.slice_id(offer, T10, 300)
    u = c.get(f"/api/v1/timeslots/{b['id']}/usage")
    assert u.status_code == 200
    assert u.json() | {} == {
        "booking": b["id"],
        "state": "confirmed",
        "start": "2026-12-01T10:00:00Z",
        "end": "2026-12-01T10:05:00Z",
        "ended_at": None,
        "preempt_deadline": None,
        "elapsed_seconds": 0,
        "currency": "USD",
        "total_price": "1.25",
        "charges_so_far": "0.00",
        "samples": [],
        "totals": {},
        "seconds_held": None,
    }
    listed = c.get("/api/v1/bookings").json()
    assert [x["id"] for x in listed["results"]] == [b["id"]]


def test_bearer_token_works_and_anonymous_is_401(renter, offer):
    _, raw = api_token_create(actor=renter, name="ci")
    c = APIClient()
    assert c.get(SEARCH).status_code == 401
    assert c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}).status_code == 401
    assert c.get("/api/v1/timeslots/1/usage").status_code == 401
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert c.get(SEARCH).status_code == 200
    r = c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}, format="json")
    assert r.status_code == 201


def test_other_renter_gets_404_and_owner_cannot_release(renter, owner, offer):
    b = (
        client_for(renter)
        .post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}, format="json")
        .json()
    )
    stranger = client_for(factories.renter())
    for path in (f"/api/v1/timeslots/{b['id']}/usage",):
        assert stranger.get(path).status_code == 404
    r = stranger.post(f"/api/v1/timeslots/{b['id']}/release")
    assert (r.status_code, r.json()["detail"]) == (404, "No such booking.")
    r = client_for(owner).post(f"/api/v1/timeslots/{b['id']}/release")
    assert r.status_code == 403
    assert "preempt" in r.json()["detail"]
    assert Booking.objects.get(pk=b["id"]).state == "confirmed"
    assert client_for(renter).get("/api/v1/timeslots/999999/usage").status_code == 404


def test_one_booking_is_the_renters_own_as_the_list_shows_it(renter, owner, offer):
    c = client_for(renter)
    b = c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}, format="json").json()
    r = c.get(f"/api/v1/bookings/{b['id']}")
    assert r.status_code == 200
    (listed,) = [x for x in c.get("/api/v1/bookings").json()["results"] if x["id"] == b["id"]]
    assert r.json() == listed and r.json()["state"] == "confirmed"
    c.post(f"/api/v1/timeslots/{b['id']}/release")
    assert c.get(f"/api/v1/bookings/{b['id']}").json()["state"] == "released"  # read afresh
    for other in (client_for(factories.renter()), client_for(owner)):
        r = other.get(f"/api/v1/bookings/{b['id']}")
        assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client_for().get(f"/api/v1/bookings/{b['id']}")
    assert r.status_code == 401 and r["Content-Type"].startswith("application/json")


def test_release_then_release_again_is_409(renter, offer):
    c = client_for(renter)
    b = c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}, format="json").json()
    r = c.post(f"/api/v1/timeslots/{b['id']}/release")
    assert (r.status_code, r.json()["state"]) == (200, "released")
    r = c.post(f"/api/v1/timeslots/{b['id']}/release")
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"


def test_taken_slice_is_409(renter, offer):
    c = client_for(renter)
    sid = factories.slice_id(offer, T10, 60)
    for _ in range(4):
        assert c.post(f"/api/v1/timeslots/{sid}/request", {}, format="json").status_code == 201
    r = c.post(f"/api/v1/timeslots/{sid}/request", {}, format="json")
    assert r.status_code == 409
    assert r.json()["error"] == "slice_taken"
    assert "just taken" in r.json()["detail"]
    assert Booking.objects.get(pk=r.json()["booking"]).state == "rejected"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration": 90}, "duration"),
        ({"duration": "ten"}, "duration"),
        ({"bid": 0.5}, "bid"),
        ({"image": "windows"}, "image"),
        ({"quote": "abc"}, "quote"),
    ],
)
def test_bad_request_bodies_are_400_with_the_field(renter, offer, body, field):
    r = client_for(renter).post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["fields"]
    assert not Booking.objects.exists()


def test_tampered_slice_id_is_404_with_a_message(renter, offer):
    sid = factories.slice_id(offer, T10, 60)
    r = client_for(renter).post(f"/api/v1/timeslots/{sid[:-3]}abc/request", {}, format="json")
    assert r.status_code == 404
    assert "altered" in r.json()["detail"]


def test_auction_bid_and_withdraw_through_the_api(renter, owner):
    offer = factories.auction_offering(owner, reserve=10, closes=600)
    c = client_for(renter)
    sid = factories.slice_id(offer, T10, 600)
    r = c.post(f"/api/v1/timeslots/{sid}/request", {"duration": 600, "bid": 0.5}, format="json")
    assert r.status_code == 201, r.content
    assert (r.json()["state"], r.json()["bid"], r.json()["auction"]["state"]) == ("requested", "0.50", "open")
    r = c.post(f"/api/v1/timeslots/{sid}/request", {}, format="json")
    assert r.status_code == 400 and "bid" in r.json()["fields"]
    r = c.post(f"/api/v1/timeslots/{r.json().get('booking', 0) or Booking.objects.get().pk}/release")
    assert r.json()["state"] == "released"


def test_dynamic_quote_endpoint_and_buy_with_it(renter, owner):
    offer = factories.dynamic_offering(owner, base=100)
    c = client_for(renter)
    sid = factories.slice_id(offer, T10, 600)
    q = c.post(f"/api/v1/timeslots/{sid}/quote", {}, format="json")
    assert q.status_code == 201 and q.json()["unit_price"] == "1.00"
    r = c.post(f"/api/v1/timeslots/{sid}/request", {"quote": q.json()["id"]}, format="json")
    assert (r.status_code, r.json()["total_price"]) == (201, "10.00")


def test_schema_builds(renter):
    r = client_for(renter).get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    assert b"/api/v1/timeslots/{slice_id}/request" in r.content


def test_search_is_a_bounded_number_of_queries(renter, owner, django_assert_max_num_queries):
    for _ in range(5):
        factories.offering(owner, publish=True)
    c = client_for(renter)
    # The first search also records the prices it found (one read, then the lock and the insert).
    with django_assert_max_num_queries(11):
        assert c.get(SEARCH).status_code == 200
    with django_assert_max_num_queries(8):  # the same prices again: a read, no write
        assert c.get(SEARCH).status_code == 200


def test_search_pages_compute_only_what_they_show(renter, owner):
    for price in (30, 10, 20):
        factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": price})
    c = client_for(renter)
    first = c.get(SEARCH + "&per_offering=1&limit=2").json()
    assert [s["unit_price"] for s in first["results"]] == ["0.10", "0.20"]
    assert first["count"] is None and "offset=2" in first["next"]
    second = c.get(first["next"]).json()
    assert [s["unit_price"] for s in second["results"]] == ["0.30"]
    assert second["next"] is None and second["count"] == 3


def test_usage_shows_provisioning_samples_through_the_hook(renter, offer):
    from scheduling import hooks

    c = client_for(renter)
    b = c.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 60)}/request", {}, format="json").json()

    def usage(booking):  # type: ignore[no-untyped-def]
        if booking.pk != b["id"]:
            return {}
        return {
            "samples": [{"at": "2026-12-01T10:00:30Z", "cpu_seconds": 12.5}],
            "totals": {"samples": 1},
            "seconds_held": 30,
        }

    before = c.get(f"/api/v1/timeslots/{b['id']}/usage").json()
    assert (before["samples"], before["seconds_held"]) == ([], None)
    hooks.register("usage_for_booking", usage)
    try:
        body = c.get(f"/api/v1/timeslots/{b['id']}/usage").json()
        assert body["samples"] == [{"at": "2026-12-01T10:00:30Z", "cpu_seconds": 12.5}]
        assert (body["totals"], body["seconds_held"]) == ({"samples": 1}, 30)
    finally:
        hooks.unregister("usage_for_booking", usage)


def test_search_parameters_are_checked_every_time_and_order_does_not_matter(renter, offer):
    """Validated parameters are remembered per query string; bad input must still fail every time."""
    c = client_for(renter)
    for _ in range(2):
        r = c.get(SEARCH + "&cpu=zero")
        assert r.status_code == 400 and "cpu" in r.json()["fields"]
    a = c.get(SEARCH + "&duration=600&ordering=start").json()
    b = c.get("/api/v1/timeslots?ordering=start&duration=600&" + SEARCH.split("?", 1)[1]).json()
    assert a["results"] and a["results"] == b["results"]
