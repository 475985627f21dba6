"""Search that shows the stock (issue 12, point 7): the default length shows every offering, more
start times on demand, lengths in human units, prices per hour, a max price that knows its currency,
and an empty answer that says why and what would match."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from tests import factories
from tests.conftest import login
from tests.market_fixtures import NOW

pytestmark = pytest.mark.django_db

RANGE = "start=2026-12-01T10:00:00Z&end=2026-12-01T11:00:00Z"


def api(user):  # type: ignore[no-untyped-def]
    c = APIClient()
    c.force_authenticate(user)
    return c


def search(user, query: str) -> dict:  # type: ignore[no-untyped-def]
    r = api(user).get(f"/api/v1/timeslots?{query}")
    assert r.status_code == 200, r.content
    return r.json()


@pytest.fixture
def night(owner):  # type: ignore[no-untyped-def]
    """The demo's night auction: 22:00-06:00 Berlin, 5-minute grid, slices of 5 min to 8 h."""
    offer = factories.auction_offering(
        owner,
        profile="Small",
        reserve=5,
        closes=120,
        name="Night auction",
        grid_seconds=300,
        min_length_seconds=300,
        max_length_seconds=8 * 3600,
        timezone="Europe/Berlin",
    )
    factories.window(owner, offer, time(22), time(6))
    return offer


def test_the_default_length_shows_an_offering_whose_longest_slice_no_longer_fits(renter, night):
    # Monday 23:00 UTC (midnight in Berlin): six hours of tonight's window are left and tomorrow's
    # opens 22 hours from now, so no 8-hour slice fits in the default 24 hours; the shortest does.
    with time_machine.travel(datetime(2026, 11, 30, 23, 0, tzinfo=UTC), tick=False):
        body = search(renter, "ordering=start")
        assert [(s["offering"]["name"], s["duration"]) for s in body["results"]] == [("Night auction", 300)] * 3
        page = login(renter).get("/market/slices/?ordering=start").content.decode()
        assert page.count('class="slice-row"') == 3 and "Night auction" in page


def test_more_start_times_on_demand(renter, owner):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10})
    assert len(search(renter, RANGE + "&duration=600")["results"]) == 3
    assert len(search(renter, RANGE + "&duration=600&per_offering=20")["results"]) == 20
    c = login(renter)
    page = c.get("/market/slices/?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=10+min").content.decode()
    assert page.count('class="slice-row"') == 3
    link = f"offering={offer.pk}&amp;profile={offer.pricing_policies.get().profile_id}&amp;per_offering=20"
    assert link in page and "more start times" in page
    more = c.get(
        f"/market/slices/?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=10+min&offering={offer.pk}"
        f"&profile={offer.pricing_policies.get().profile_id}&per_offering=20"
    ).content.decode()
    assert more.count('class="slice-row"') == 20 and "more start times" not in more


def test_lengths_in_human_units(renter, owner):
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 10})
    for text, seconds in (("15 min", 900), ("1 h", 3600), ("1h", 3600), ("120", 120)):
        assert {
            s["duration"] for s in search(renter, RANGE.replace("11:00", "12:00") + f"&duration={text}")["results"]
        } == {seconds}
    r = api(renter).get(f"/api/v1/timeslots?{RANGE}&duration=soon")
    assert r.status_code == 400 and "is not a length" in r.json()["detail"]
    page = login(renter).get("/market/slices/?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=15+min")
    html = page.content.decode()
    assert html.count('class="slice-row"') == 3 and "15 × 1 min" in html
    assert '<option value="5 s">' in html and '<option value="1 h">' in html


def test_prices_per_hour_compare_grids(renter, owner):
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, name="minute grid")
    factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 100},
        name="five-minute grid",
        grid_seconds=300,
        min_length_seconds=300,
    )
    results = search(renter, RANGE + "&duration=600&per_offering=1")["results"]
    assert [(s["offering"]["name"], s["unit_price"], s["price_per_hour"]) for s in results] == [
        ("five-minute grid", "1.00", "12.00"),
        ("minute grid", "0.25", "15.00"),
    ]
    html = login(renter).get("/market/slices/?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=10+min").content
    assert "1.00 USD per 5 min · 12.00 USD/h" in html.decode()
    browse = login(renter).get("/offerings/").content.decode()
    assert "(12.00 USD/h)" in browse and "(15.00 USD/h)" in browse


def test_max_price_knows_currencies(renter, owner):
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, name="usd")
    factories.offering(
        owner, publish=True, pricing={"model": "fixed", "price_per_unit": 20, "currency": "EUR"}, name="eur"
    )
    names = lambda q: {s["offering"]["name"] for s in search(renter, RANGE + q)["results"]}  # noqa: E731
    assert names("&max_price=0.25&currency=EUR") == {"eur"}
    assert names("&max_price=0.22&currency=USD") == set()
    assert names("&currency=USD") == {"usd"}
    r = api(renter).get(f"/api/v1/timeslots?{RANGE}&max_price=0.255&currency=USD")
    assert r.status_code == 400 and r.json()["fields"]["max_price"]
    # The browse page asks in which currency a max price is meant, instead of assuming USD.
    page = login(renter).get("/offerings/", {"max_price": "0.30"}).content.decode()
    assert "Choose the currency of the max price" in page
    page = login(renter).get("/offerings/", {"max_price": "0.30", "currency": "EUR"}).content.decode()
    assert ">eur<" in page and ">usd<" not in page


def test_no_slice_matches_says_why_and_suggests_the_nearest_match(renter, owner):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25}, region="eu-1")
    past = search(renter, "start=2026-11-29T10:00:00Z&end=2026-11-29T11:00:00Z")
    assert past["results"] == [] and past["explanation"]["reason"] == (
        "The range you searched ends in the past (2026-11-29 11:00 UTC); slices start from now on."
    )
    assert past["explanation"]["params"] == {"start": None, "end": None}
    odd = search(renter, RANGE + "&duration=90")["explanation"]
    assert odd["reason"] == "No offering sells 1 min 30 s slices: a length is a whole number of grid units (1 min)."
    assert (odd["suggestion"], odd["params"]) == ("Try 2 min.", {"duration": "2 min"})
    long = search(renter, RANGE.replace("2026-12-01T11", "2026-12-02T11") + "&duration=3h")["explanation"]
    assert long["reason"] == "3 h is longer than any offering sells (at most 2 h)." and long["suggestion"] == "Try 2 h."
    region = search(renter, RANGE + "&region=eu-2")["explanation"]
    assert region["reason"] == "No offering is in region 'eu-2'. Regions with offerings: EU-1."
    assert region["params"] == {"region": "EU-1"}
    pricey = search(renter, RANGE + "&max_price=0.10&currency=USD")["explanation"]
    assert pricey["suggestion"] == "Allow up to 0.25 USD." and pricey["params"]["max_price"] == "0.25"
    assert "explanation" not in search(renter, RANGE)  # only an empty answer carries one
    # The page says the same, with a link to the suggested search.
    c = login(renter)
    html = c.get("/market/slices/?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=90").content.decode()
    assert "No slice matches: No offering sells 1 min 30 s slices" in html
    assert "duration=2+min" in html and "Try 2 min." in html
    assert offer.name not in html


def test_an_unchanged_search_costs_no_extra_query_for_the_explanation(renter, owner, django_assert_max_num_queries):
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    search(renter, RANGE)  # loads the catalogue
    with django_assert_max_num_queries(3):
        assert search(renter, RANGE + "&duration=90")["explanation"]["suggestion"] == "Try 2 min."
    assert NOW < datetime(2026, 12, 1, 10, tzinfo=UTC) < NOW + timedelta(days=2)
