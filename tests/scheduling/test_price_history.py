"""The price history: a point when a price changes (not on every search), race-safe, bounded by the
retention; and its API (who may read it, bad input as JSON 400s)."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.db import close_old_connections, connection, transaction
from django.test import Client, override_settings
from rest_framework.test import APIClient

from audit.models import DomainEvent
from marketplace.lib import clock
from owners import services as owner_services
from owners.models import SliceProfile
from scheduling import selectors, services, tasks
from scheduling.models import PriceHistory
from scheduling.services.prices import PricePoint, price_history_prune, prices_record
from tests import factories
from tests.scheduling.conftest import NOW

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def search(offer, start=None, duration=None):  # type: ignore[no-untyped-def]
    """The offering's slices over an hour from ``start`` (default: now), at ``duration`` (default: its shortest)."""
    start = start or clock.now()
    q = selectors.SearchQuery(start=start, end=start + timedelta(hours=1), offering_id=offer.pk, duration=duration)
    return selectors.slices_search(user=None, q=q)


def series(offer, source):  # type: ignore[no-untyped-def]
    rows = PriceHistory.objects.filter(offering=offer, source=source).order_by("at", "id")
    return list(rows.values_list("unit_price", flat=True))


@pytest.fixture
def dyn(owner):  # type: ignore[no-untyped-def]
    # base 100; surge ×1.5 at 50 %: four Smalls (4 vCPU each) of 16 fill it.
    return factories.dynamic_offering(owner, base=100, floor=50, cap=300)


def test_repeated_searches_record_a_price_once(dyn, owner):
    fixed = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    for _ in range(3):
        assert search(dyn) and search(fixed)
    assert series(dyn, "dynamic") == [100]
    assert series(fixed, "fixed") == [25]
    assert PriceHistory.objects.count() == 2


def test_a_changed_dynamic_price_adds_exactly_one_point(dyn, renter):
    soonest = min(search(dyn), key=lambda s: s.starts_at)
    services.booking_request(actor=renter, slice_id=soonest.id)  # 4 of 16 vCPU: 25 % -> 125
    search(dyn)
    search(dyn)
    assert series(dyn, "dynamic") == [100, 125]  # the buy at 100 changed nothing; the search saw 125


def test_dynamic_prices_of_other_lengths_and_days_are_not_search_points(dyn, renter):
    """A dynamic price depends on the slice: the series takes the soonest shortest slice's only, so
    searches of other shapes do not make it flip between their prices."""
    services.booking_request(actor=renter, slice_id=factories.slice_id(dyn, T10, 600))  # tomorrow: 125 then
    assert {s.unit_price for s in search(dyn, start=T10)} == {125}
    assert search(dyn, duration=600)
    assert series(dyn, "dynamic") == [100]  # the buy's price (100 before it) only
    search(dyn)
    assert series(dyn, "dynamic") == [100]


def test_a_changed_fixed_price_is_recorded_by_the_next_search(owner):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    search(offer)
    factories.price(owner, offer, price_per_unit=30)
    search(offer)
    search(offer)
    assert series(offer, "fixed") == [25, 30]


def test_a_price_that_goes_back_is_a_new_point(dyn):
    profile_id = dyn.pricing_policies.get().profile_id
    points = [PricePoint(dyn.pk, profile_id, "dynamic", price, "USD") for price in (100, 100, 120, 100)]
    assert prices_record(points) == 3
    assert prices_record(points[-1:]) == 0
    assert series(dyn, "dynamic") == [100, 120, 100]


def test_retention_keeps_the_table_bounded_and_the_price_in_force(dyn, renter, settings):
    settings.MARKETPLACE_PRICE_HISTORY_DAYS = 30
    offer_id, profile_id = dyn.pk, dyn.pricing_policies.get().profile_id
    start = NOW - timedelta(days=100)
    for day in range(100):  # a new price every day
        prices_record([PricePoint(offer_id, profile_id, "dynamic", 100 + day, "USD")], at=start + timedelta(days=day))
    assert PriceHistory.objects.count() == 100
    # The 29 points of the last 30 days stay, with the price in force at the cutoff (NOW - 30 days,
    # just before it as the clock ticks).
    assert price_history_prune() == 70
    kept = list(PriceHistory.objects.order_by("at").values_list("at", "unit_price"))
    assert len(kept) == 30 and kept[-1][1] == 199
    assert kept[0][0] <= NOW - timedelta(days=30) < kept[1][0]
    assert tasks.prune_price_history() == 0  # nothing more: the task is idempotent
    event = DomainEvent.objects.get(verb="price_history.pruned")
    assert event.data["deleted"] == 70
    # An old series that has not changed since keeps its one point, however old.
    with time_machine.travel(NOW + timedelta(days=365), tick=False):
        assert price_history_prune() == 29
    assert list(PriceHistory.objects.values_list("unit_price", flat=True)) == [199]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_searches_record_a_change_once(dyn):
    """Eight searches see the same new price while another writer holds the series' lock with that
    very price uncommitted: they all wait on the lock, then find it recorded and write nothing."""
    holding, release, errors = threading.Event(), threading.Event(), []

    def holder() -> None:
        try:
            with transaction.atomic():
                search(dyn)  # records 100, holds the advisory lock until commit
                holding.set()
                release.wait(30)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            holding.set()
            connection.close()

    def searcher() -> None:
        try:
            search(dyn)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(30)
    others = [threading.Thread(target=searcher) for _ in range(8)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until all eight wait on the series' lock
        with connection.cursor() as cur:
            cur.execute(  # this database's only: the server is shared
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if cur.fetchone()[0] == 8:
                break
        time.sleep(0.05)
    else:
        pytest.fail("the searches did not all wait on the series' lock")
    release.set()
    for t in [first, *others]:
        t.join(30)
    close_old_connections()
    assert not errors
    assert series(dyn, "dynamic") == [100]


# ---- the API ------------------------------------------------------------------------------------


def client_for(user=None):  # type: ignore[no-untyped-def]
    c = APIClient()
    if user is not None:
        c.force_authenticate(user)
    return c


def url(offer, **params):  # type: ignore[no-untyped-def]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/offerings/{offer.pk}/price-history" + (f"?{query}" if query else "")


@pytest.fixture
def history(dyn, renter):  # type: ignore[no-untyped-def]
    """100 at NOW - 10 days, 125 at NOW - 1 hour, 150 at NOW - 10 min."""
    profile_id = dyn.pricing_policies.get().profile_id
    for price, ago in ((100, timedelta(days=10)), (125, timedelta(hours=1)), (150, timedelta(minutes=10))):
        prices_record([PricePoint(dyn.pk, profile_id, "dynamic", price, "USD", 0.5)], at=NOW - ago)
    return dyn


def test_api_lists_points_with_the_price_in_force_first(history, renter):
    r = client_for(renter).get(url(history, since="2026-11-30T06:00:00Z", until="2026-11-30T09:00:00Z"))
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["count"] == 3
    assert [(p["at"], p["unit_price"], p["source"]) for p in body["results"]] == [
        ("2026-11-20T08:00:00Z", "1.00", "dynamic"),  # in force at `since`
        ("2026-11-30T07:00:00Z", "1.25", "dynamic"),
        ("2026-11-30T07:50:00Z", "1.50", "dynamic"),
    ]
    # The default range is the last 7 days up to now; a source filter keeps only that source.
    assert client_for(renter).get(url(history)).json()["count"] == 3
    assert client_for(renter).get(url(history, source="fixed")).json()["count"] == 0
    page = client_for(renter).get(url(history, limit=2)).json()
    assert len(page["results"]) == 2 and page["next"]


def test_api_shows_an_unpublished_offering_to_its_owner_only(history, owner, other_owner, renter):
    owner_services.offering_set_status(actor=owner, offering=history, status="paused")
    assert client_for(owner).get(url(history)).status_code == 200
    for user in (renter, other_owner):
        r = client_for(user).get(url(history))
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client_for().get(url(history)).status_code == 401
    r = client_for(renter).get("/api/v1/offerings/999999/price-history")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"since": "2026-11-30T09:00:00Z", "until": "2026-11-30T08:00:00Z"}, "until", "after the start"),
        ({"since": "2026-11-30T09:00:00Z", "until": "2026-11-30T09:00:00Z"}, "until", "after the start"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-11-30T08:00:00Z"}, "until", "at most"),
        ({"since": "2020-01-01T00:00:00Z"}, "until", "at most"),  # until: now
        ({"since": "1000-01-01T00:00:00Z"}, "since", "Give a date from"),
        ({"profile": "99999"}, "profile", "has no price for profile 99999"),
        ({"profile": "abc"}, "profile", "valid integer"),
        ({"source": "guess"}, "source", "not a valid choice"),
        ({"limit": "100000"}, "limit", "from 1 to 1,000"),
    ],
)
def test_api_refuses_bad_input_with_a_message(history, renter, params, field, words):
    r = client_for(renter).get(url(history, **params))
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "invalid" or body["error"]
    assert field in body["fields"], body
    assert words in " ".join(body["fields"][field]), body


def test_api_refuses_a_nul_byte(history, renter):
    r = client_for(renter).get(url(history, since="2026-11-30%00T08:00:00Z"))
    assert r.status_code == 400
    assert "NUL" in r.json()["detail"]


@override_settings(MARKETPLACE_MAX_RANGE_DAYS=31)
def test_api_range_is_bounded_by_the_operator_setting(history, renter):
    ok = client_for(renter).get(url(history, since="2026-10-31T08:00:00Z", until="2026-11-30T08:00:00Z"))
    assert ok.status_code == 200
    too_long = client_for(renter).get(url(history, since="2026-10-29T08:00:00Z", until="2026-11-30T08:00:00Z"))
    assert too_long.status_code == 400


# ---- the offering page --------------------------------------------------------------------------


def test_offering_page_charts_each_profile_in_the_viewers_zone(history, client):
    page = client.get(f"/offerings/{history.pk}/?range=24h")
    assert page.status_code == 200
    (chart,) = page.context["price_charts"]
    # 24 h: 100 was in force at the start (drawn from there), then 125 and 150; labels in UTC (anonymous).
    assert chart["spec"]["labels"] == ["2026-11-29 08:00", "2026-11-30 07:00", "2026-11-30 07:50", "2026-11-30 08:00"]
    (dynamic,) = chart["spec"]["datasets"]
    assert (dynamic["label"], dynamic["step"], dynamic["data"]) == ("Dynamic quotes", True, [1.0, 1.25, 1.5, 1.5])
    assert [r["price"] for r in chart["rows"]] == ["1.00 USD", "1.25 USD", "1.50 USD"]
    assert 'data-chart="price-chart-' in page.content.decode()


def test_offering_page_names_the_zone_and_offers_the_csv(history, renter):
    renter.timezone = "Asia/Tokyo"
    renter.save(update_fields=["timezone"])
    c = Client()
    c.force_login(renter)
    page = c.get(f"/offerings/{history.pk}/?range=24h").content.decode()
    assert "When (Asia/Tokyo)" in page and "2026-11-30 16:50" in page  # 07:50 UTC
    csv = c.get(f"/offerings/{history.pk}/?range=24h&format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines() == [
        "at,profile,source,unit_price,currency",
        "2026-11-20T17:00:00+09:00,Small,dynamic,1.00,USD",
        "2026-11-30T16:00:00+09:00,Small,dynamic,1.25,USD",
        "2026-11-30T16:50:00+09:00,Small,dynamic,1.50,USD",
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("range=custom&since=2026-11-30T09:00&until=2026-11-30T08:00", "The end must be after the start."),
        ("range=custom&since=2026-11-30T09:00", "Give the end of the range."),
        ("range=custom&since=2020-01-01T00:00&until=2026-11-30T08:00", "at most"),
        ("range=forever", "Select a valid choice."),
    ],
)
def test_offering_page_refuses_a_bad_range_beside_its_field(history, client, query, words):
    page = client.get(f"/offerings/{history.pk}/?{query}")
    assert page.status_code == 200
    assert words in page.content.decode()
    assert page.context["prices"].errors


def test_search_results_link_each_slice_to_its_price_chart(dyn, renter):
    c = Client()
    c.force_login(renter)
    page = c.get("/market/slices/", {"start": "2026-12-01T10:00", "end": "2026-12-01T11:00", "duration": "600"})
    assert page.status_code == 200
    profile_id = dyn.pricing_policies.get().profile_id
    assert f'href="/offerings/{dyn.pk}/#prices-{profile_id}"' in page.content.decode()
    chart = Client().get(f"/offerings/{dyn.pk}/").content.decode()
    assert f'id="prices-{profile_id}"' in chart


# ---- the slice search's inline price history ----------------------------------------------------


def fragment(offer, profile_id, user=None, **params):  # type: ignore[no-untyped-def]
    c = Client()
    if user is not None:
        c.force_login(user)
    return c.get(f"/offerings/{offer.pk}/prices/{profile_id}", params, HTTP_HX_REQUEST="true")


def test_search_results_load_no_history_until_one_is_opened(history, renter):
    c = Client()
    c.force_login(renter)
    page = c.get("/market/slices/", {"start": "2026-12-01T10:00", "end": "2026-12-01T11:00", "duration": "600"})
    html = page.content.decode()
    profile_id = history.pricing_policies.get().profile_id
    rows = html.count('class="slice-row"')
    assert rows == 3
    # Each result has its own toggle, asking for its offering and profile, numbered apart...
    for n in range(1, rows + 1):
        assert f'hx-get="/offerings/{history.pk}/prices/{profile_id}?row={n}"' in html
    assert html.count('hx-trigger="toggle once"') == rows
    # ...and nothing of the history is on the page before: no chart, no price table.
    assert "<canvas" not in html and "price-table" not in html


def test_fragment_draws_one_profiles_prices_over_the_range_asked(history, renter, owner):
    small = history.pricing_policies.get().profile_id
    medium = factories.price(owner, history, profile="Medium", model="fixed", price_per_unit=999).profile_id
    # Another profile's prices on the same offering, another offering's on the same profile: not drawn.
    prices_record([PricePoint(history.pk, medium, "fixed", 999, "USD", 0.5)], at=NOW - timedelta(minutes=30))
    assert fragment(history, medium, renter, range="24h").context["chart"]["rows"][-1]["price"] == "9.99 USD"
    other = factories.dynamic_offering(owner, base=700, floor=50, cap=900)
    prices_record([PricePoint(other.pk, small, "dynamic", 777, "USD", 0.5)], at=NOW - timedelta(minutes=20))

    r = fragment(history, small, renter, row="2", range="24h")
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html  # a fragment, for htmx to put in place
    chart = r.context["chart"]
    assert chart["id"] == f"price-chart-r2-{history.pk}-{small}"
    # The last 24 hours: the price in force at their start (100, set 10 days ago) drawn from there.
    assert chart["spec"]["labels"] == ["2026-11-29 08:00", "2026-11-30 07:00", "2026-11-30 07:50", "2026-11-30 08:00"]
    (dynamic,) = chart["spec"]["datasets"]
    assert dynamic["data"] == [1.0, 1.25, 1.5, 1.5]
    assert [row["price"] for row in chart["rows"]] == ["1.00 USD", "1.25 USD", "1.50 USD"]
    assert "9.99 USD" not in html and "7.77 USD" not in html
    # The spec rides on the canvas (htmx drops <script> elements, json_script's among them).
    assert f'data-chart="price-chart-r2-{history.pk}-{small}" data-chart-spec="' in html
    assert "<script" not in html
    # The form's ids are the row's own, so that two open charts do not share one.
    assert f'<select name="range" id="r2-{history.pk}-{small}-range">' in html

    # Seven days when the toggle asks for no range, and the form says so.
    week = fragment(history, small, renter, row="2")
    assert week.context["chart"]["spec"]["labels"][0] == "2026-11-23 08:00"
    assert '<option value="7d" selected>' in week.content.decode()
    # A few minutes after the last change: only the price in force then.
    empty = fragment(history, small, renter, range="custom", since="2026-11-30T07:55", until="2026-11-30T07:59")
    assert [row["price"] for row in empty.context["chart"]["rows"]] == ["1.50 USD"]  # only the one in force


def test_fragment_offers_the_same_range_as_csv(history, renter):
    small = history.pricing_policies.get().profile_id
    prices_record(
        [PricePoint(history.pk, SliceProfile.objects.get(owner=None, name="Medium").pk, "dynamic", 999, "USD", 0.5)],
        at=NOW - timedelta(minutes=30),
    )
    html = fragment(history, small, renter, row="1", range="24h").content.decode()
    assert f'href="/offerings/{history.pk}/prices/{small}?row=1&amp;range=24h&amp;format=csv"' in html
    csv = fragment(history, small, renter, row="1", range="24h", format="csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"] == f'attachment; filename="price-history-{history.pk}-small.csv"'
    assert csv.content.decode().splitlines() == [
        "at,profile,source,unit_price,currency",
        "2026-11-20T08:00:00+00:00,Small,dynamic,1.00,USD",
        "2026-11-30T07:00:00+00:00,Small,dynamic,1.25,USD",
        "2026-11-30T07:50:00+00:00,Small,dynamic,1.50,USD",
    ]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"range": "forever"}, "range", "Select a valid choice."),
        ({"range": "custom", "since": "2026-11-30T09:00", "until": "2026-11-30T08:00"}, "until", "after the start"),
        ({"range": "custom", "since": "2026-11-30T09:00"}, "until", "Give the end of the range."),
        ({"range": "custom", "since": "2020-01-01T00:00", "until": "2026-11-30T08:00"}, "until", "at most"),
        ({"range": "custom", "since": "not a date", "until": "2026-11-30T08:00"}, "since", "Enter a valid date/time."),
    ],
)
def test_fragment_refuses_a_bad_range_beside_its_field(history, renter, params, field, words):
    small = history.pricing_policies.get().profile_id
    r = fragment(history, small, renter, row="3", **params)
    assert r.status_code == 200  # htmx swaps it in: the renter reads why
    html = r.content.decode()
    field_id = f"r3-{history.pk}-{small}-{field}"
    control = re.search(rf'<(?:input|select)[^>]* id="{field_id}"[^>]*>', html)
    assert control is not None, html
    assert 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="{field_id}_error"' in control.group(0)
    error = re.search(rf'<small [^>]*id="{field_id}_error"[^>]*>([^<]*)</small>', html)
    assert error is not None and words in unescape(error.group(1))
    # The last seven days are drawn meanwhile.
    assert r.context["chart"]["spec"]["labels"][0] == "2026-11-23 08:00"


def test_fragment_is_only_for_a_published_offering_and_a_profile_it_prices(history, renter, owner):
    small = history.pricing_policies.get().profile_id
    large = SliceProfile.objects.get(owner=None, name="Large").pk
    assert fragment(history, large, renter).status_code == 404  # not priced on this offering
    draft = factories.offering(owner, pricing={"model": "fixed", "price_per_unit": 25})
    assert draft.status != "published" and draft.pricing_policies.filter(profile_id=small).exists()
    assert fragment(draft, small, renter).status_code == 404
    assert fragment(history, small).status_code == 200  # public, as the offering page is
    assert Client().post(f"/offerings/{history.pk}/prices/{small}").status_code == 405
    assert fragment(history, small, renter, row="<b>").context["chart"]["id"] == f"price-chart-r0-{history.pk}-{small}"
