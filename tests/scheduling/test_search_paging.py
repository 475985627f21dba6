"""The search's pages (GET /api/v1/timeslots) are one listing cut in pieces, for every ordering:
following ``next`` from the first page gives each slice exactly once, in the order of the whole
listing, whatever the page size. Ties are the hard part: offerings with the same price per second,
slices starting at the same instant, fixed, dynamic and auction prices in one listing."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from scheduling.selectors import ORDERINGS
from tests import factories

pytestmark = pytest.mark.django_db

# NOW (tests.market_fixtures) is 2026-11-30 08:00 UTC: two hours of the next day.
QUERY = "/api/v1/timeslots?start=2026-12-01T10:00:00Z&end=2026-12-01T12:00:00Z"


@pytest.fixture
def market(owner):  # type: ignore[no-untyped-def]
    """Nine offerings: three at the same fixed price (ties on price and start), two cheaper and dearer,
    one on a 5-minute grid, one dynamic, two auctions at the same reserve; two with a second profile."""
    same = [factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 20}) for _ in range(3)]
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 5})
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 90})
    factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 100},
        grid_seconds=300,
        min_length_seconds=300,
    )
    # Dynamic, priced 20 now but bounded below by 10: listed among the 20s, scanned before them (its floor).
    factories.dynamic_offering(owner, base=20, floor=10, cap=20)
    factories.auction_offering(owner, reserve=20)
    factories.auction_offering(owner, reserve=20)
    for offer in same[:2]:
        factories.price(owner, offer, profile="Medium", model="fixed", price_per_unit=40)
    return same


def _walk(client: APIClient, url: str) -> tuple[list[str], int | None]:
    ids: list[str] = []
    pages = 0
    count = None
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        ids += [s["id"] for s in body["results"]]
        count = body["count"]
        nxt = body["next"]
        url = f"{urlsplit(nxt).path}?{urlsplit(nxt).query}" if nxt else ""
        pages += 1
        assert pages <= 200, "the pages end"
    return ids, count


@pytest.mark.parametrize("ordering", sorted(ORDERINGS))
@pytest.mark.parametrize("extra", ["&per_offering=4", "&per_offering=1", "&duration=600&per_offering=3"])
def test_walking_the_pages_gives_each_slice_once_in_the_listings_order(market, renter, ordering, extra):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(renter)
    url = f"{QUERY}&ordering={ordering}{extra}"
    whole = client.get(f"{url}&limit=200").json()
    listing = [s["id"] for s in whole["results"]]
    assert whole["next"] is None and whole["count"] == len(listing) > 10
    assert len(set(listing)) == len(listing)
    for limit in (1, 2, 3, 7, 10):
        walked, last_count = _walk(client, f"{url}&limit={limit}")
        duplicates = [i for i, n in Counter(walked).items() if n > 1]
        assert duplicates == [], f"limit={limit}: slices listed twice"
        assert walked == listing, f"limit={limit}: the pages are not the listing cut in pieces"
        assert last_count == len(listing)
