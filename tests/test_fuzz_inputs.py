"""No input gives a 500 (issue 14, item 2): the portal's pages that take parameters and the API's
endpoints, driven with generated values (dates from year 1 to 9999 with and without an offset, ints
far beyond any column, NUL characters, empty and repeated parameters, odd decimals), as anonymous,
a renter and an owner. Every answer is below 500, and under /api/ it is JSON.

The generated requests come from one catalogue of endpoints below; the explicit cases after the
fuzz run are the findings it made, kept as named regressions.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling import services as market
from scheduling.models import Booking
from tests import factories
from tests.conftest import login
from tests.market_fixtures import NOW, _frozen_calendar

__all__ = ["_frozen_calendar"]

pytestmark = pytest.mark.django_db

T10 = NOW.replace(hour=10) + timedelta(days=1)

# ---- values ---------------------------------------------------------------------------------------


def _date_text(value: datetime, style: int) -> str:
    base = value.strftime("%Y-%m-%dT%H:%M") if style < 3 else value.strftime("%Y-%m-%d")
    return base + ["", "Z", "+05:00", "-12:00", ""][style]


dates = st.builds(
    _date_text, st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)), st.integers(0, 4)
)
edge_dates = st.sampled_from(
    ["0001-01-01T00:00", "0001-01-01T00:00+05:00", "9999-12-31T23:59", "9999-12-31T23:59-12:00", "9999-01-01T00:00"]
)
ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**20, 99999999999999999999]),
).map(str)
decimals = st.sampled_from(["1e999999", "NaN", "Infinity", "-0", "0.0000001", "1E+30", "99999999999999999999.5"])
nul = st.text(max_size=4).map(lambda s: s + "\x00" + s)
plain = st.sampled_from(
    ["USD", "EUR", "price", "start", "csv", "pdf", "html", "2026", "12", "600", "1 h", "confirmed", "dynamic"]
)
curves = st.sampled_from(["[[0, 1e999]]", "[[0, NaN]]", "[[0, 1], [50, Infinity]]", "[[0, " + "9" * 5000 + "]]"])
values = st.one_of(dates, edge_dates, ints, decimals, nul, st.text(max_size=12), st.just(""), plain, curves)

# ---- endpoints: (method, path template, parameter names) ------------------------------------------

SEARCH = ["cpu", "ram", "disk", "bandwidth", "region", "max_price", "currency", "start", "end", "duration"]
SEARCH += ["ordering", "per_offering", "offering", "profile", "limit", "offset"]
PRICING = ["profile", "model", "currency", "price_per_unit", "reserve_price", "bidding_closes_seconds"]
PRICING += ["clearing_rule", "base_price", "floor_price", "cap_price", "surge_curve", "release_charge"]
ENDPOINTS: list[tuple[str, str, list[str]]] = [
    ("GET", "/", []),
    ("GET", "/offerings/", ["cpu", "ram", "disk", "bandwidth", "region", "max_price", "currency"]),
    ("GET", "/offerings/", ["available_from", "available_to", "available_from", "available_to"]),
    ("GET", "/offerings/{offering}/", []),
    ("GET", "/market/slices/", SEARCH),
    ("GET", "/market/slices/{slice}/request", ["duration", "bid", "quote", "image", "next"]),
    ("GET", "/market/bookings/", ["state"]),
    ("GET", "/market/bookings/{booking}/release", []),
    ("GET", "/market/bookings/{booking}/profile", ["profile"]),
    ("GET", "/market/bookings/{booking}/extend", ["duration"]),
    ("GET", "/owner/market/", ["state"]),
    ("GET", "/owner/offerings/{offering}/", []),
    ("GET", "/billing/statement", ["year", "month", "format"]),
    ("GET", "/billing/costs", []),
    ("GET", "/billing/terms/{offering}", []),
    ("GET", "/billing/owner/", ["format"]),
    ("GET", "/bookings/{booking}/server/", []),
    # the charts: the revenue page's range, a usage chart's metric, the utilisation's period
    ("GET", "/billing/owner/", ["since", "until", "since", "format"]),
    ("GET", "/bookings/{booking}/server/usage.json", ["metric", "metric"]),
    ("GET", "/owner/offerings/{offering}/utilisation", ["period"]),
    ("GET", "/api/v1/timeslots", SEARCH),
    ("GET", "/api/v1/timeslots/{booking}/usage", []),
    ("GET", "/api/v1/bookings", ["state", "limit", "offset"]),
    ("GET", "/api/v1/bookings/{booking}", []),
    ("GET", "/api/v1/billing/payments", []),
    ("GET", "/api/v1/billing/bookings", []),
    ("GET", "/api/v1/billing/statements/{year}/{month}", []),
    ("GET", "/api/v1/bookings/{booking}/server", []),
    ("GET", "/api/v1/bookings/{booking}/server/usage", []),
    ("POST", "/api/v1/timeslots/{slice}/request", ["duration", "bid", "quote", "image"]),
    ("POST", "/api/v1/timeslots/{slice}/quote", ["duration"]),
    ("POST", "/api/v1/timeslots/{booking}/release", ["preview"]),
    ("POST", "/api/v1/timeslots/{booking}/extend", ["duration", "duration", "preview"]),
    ("POST", "/api/v1/billing/payouts", ["currency"]),
    # the owner API
    ("GET", "/api/v1/owner/offerings", ["status", "limit", "offset"]),
    ("GET", "/api/v1/owner/bookings", ["offering", "state", "limit", "offset"]),
    ("GET", "/api/v1/owner/bookings/{booking}", []),
    ("GET", "/api/v1/owner/offerings/{offering}/pricing", []),
    ("GET", "/api/v1/owner/revenue", ["from", "to", "from"]),
    ("POST", "/api/v1/owner/offerings", ["cloud", "name", "vcpus", "ram_mib", "grid_seconds", "min_length_seconds"]),
    ("POST", "/api/v1/owner/offerings/{offering}/status", ["status"]),
    ("POST", "/api/v1/owner/offerings/{offering}/windows", ["weekdays", "weekdays", "start_time", "end_time"]),
    ("POST", "/api/v1/owner/profiles", ["name", "vcpus", "ram_mib", "disk_gb", "flavor_name"]),
    ("POST", "/api/v1/owner/bookings/{booking}/preempt", ["notice_seconds", "reason", "preview"]),
    ("POST", "/api/v1/owner/offerings/{offering}/preempt", ["notice_seconds", "reason"]),
    # portal forms
    ("POST", "/account/settings/", ["spend_limit", "currency"]),
    ("POST", "/owner/offerings/{offering}/pricing/new", PRICING),
    ("POST", "/owner/offerings/{offering}/windows", ["weekdays", "weekdays", "start_time", "end_time"]),
    ("POST", "/owner/market/bookings/{booking}/preempt", ["notice_seconds", "reason"]),
    ("POST", "/market/bookings/{booking}/extend", ["duration"]),
]


@st.composite
def requests(
    draw: st.DrawFn, world: dict[str, Any], endpoint: tuple[str, str, list[str]]
) -> tuple[str, str, list[tuple[str, str]], bool]:
    method, template, names = endpoint
    ids = st.one_of(ints.filter(lambda s: not s.startswith("-")), st.sampled_from([str(world["offering"])]))
    fills = {
        "offering": ids if "{offering}" in template else st.none(),
        "booking": st.one_of(ids, st.just(str(world["booking"]))),
        "year": st.one_of(st.sampled_from(["0", "1", "2026", "9999"]), ids),
        "month": st.one_of(st.sampled_from(["0", "1", "12", "13"]), ids),
        "slice": st.one_of(st.just(world["slice"]), st.text(max_size=30), st.text(max_size=9).map("1-2-3-4:".__add__)),
    }
    path = template
    for key, strategy in fills.items():
        if "{" + key + "}" in path:
            path = path.replace("{" + key + "}", quote(draw(strategy), safe=""))
    params = draw(st.lists(st.tuples(st.sampled_from([*names, "x"] if names else ["x"]), values), max_size=6))
    as_json = method == "POST" and draw(st.booleans())
    return method, path, params, as_json


def _send(client: Client, method: str, path: str, params: list[tuple[str, str]], as_json: bool) -> Any:
    if method == "GET":
        return client.get(path + ("?" + urlencode(params) if params else ""))
    if as_json:
        body = json.dumps(dict(params))
        return client.post(path, body, content_type="application/json")
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded")


def _check(response: Any, method: str, path: str, params: list[tuple[str, str]]) -> None:
    where = f"{method} {path} {params!r}"
    assert response.status_code < 500, f"{where} -> {response.status_code}"
    if path.startswith("/api/"):
        assert response["Content-Type"].startswith("application/json"), f"{where} -> {response['Content-Type']}"
        json.loads(response.content)


@pytest.fixture
def world(owner, renter, settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0  # the limit would answer 429 and hide what is behind it
    offer = factories.offering(owner, publish=True)
    factories.fund_renter(renter, 100_000)
    booking = market.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    return {
        "offering": offer.pk,
        "booking": booking.pk,
        "slice": factories.slice_id(offer, T10 + timedelta(hours=2), 600),
        "clients": {"anonymous": Client(), "renter": login(renter), "owner": login(owner)},
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p} {'+'.join(n)[:30]}" for m, p, n in ENDPOINTS])
def test_no_generated_input_gives_a_server_error(world, endpoint):  # type: ignore[no-untyped-def]
    """Each endpoint with generated parameters, as anonymous, a renter or an owner (20 requests an
    endpoint, some 650 in all: the run stays well under a minute)."""
    anonymous_wrote = []

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(role=st.sampled_from(["anonymous", "renter", "owner"]), request=requests(world, endpoint))
    def run(role: str, request: tuple[str, str, list[tuple[str, str]], bool]) -> None:
        method, path, params, as_json = request
        before = list(Booking.objects.order_by("pk").values_list("pk", "state"))
        _check(_send(world["clients"][role], method, path, params, as_json), method, path, params)
        if role == "anonymous" and list(Booking.objects.order_by("pk").values_list("pk", "state")) != before:
            anonymous_wrote.append((method, path, params))

    run()
    assert anonymous_wrote == []  # nothing an anonymous caller sends changes a booking


# ---- the findings, by name ------------------------------------------------------------------------

FOUND = [
    # (role, method, path, params, status, words in the answer)
    (
        "anonymous",
        "GET",
        "/offerings/",
        [("available_from", "2027-01-01T00:00"), ("available_to", "9999-01-01T00:00")],
        200,
        "Give a date from 2000 to 2100.",
    ),
    (
        "anonymous",
        "GET",
        "/offerings/",
        [("available_from", "2027-01-01T00:00"), ("available_to", "2029-01-01T00:00")],
        200,
        "at most 366 days",
    ),
    (
        "anonymous",
        "GET",
        "/offerings/",
        [("available_from", "0001-01-01T00:00+05:00"), ("available_to", "2027-01-01T00:00")],
        200,
        "Give a date from 2000 to 2100.",
    ),
    ("anonymous", "GET", "/offerings/", [("cpu", "99999999999999999999")], 200, "less than or equal to"),
    ("anonymous", "GET", "/offerings/", [("region", "eu\x00west")], 400, "NUL character"),
    (
        "renter",
        "GET",
        "/market/slices/",
        [("start", "9999-12-31T23:59"), ("end", "")],
        200,
        "Give a date from 2000 to 2100.",
    ),
    (
        "renter",
        "GET",
        "/market/slices/",
        [("start", "0001-01-01T00:00"), ("end", "0001-01-02T00:00")],
        200,
        "Give a date from 2000 to 2100.",
    ),
    ("renter", "GET", "/market/bookings/", [("state", "\x00")], 400, "NUL character"),
    ("owner", "GET", "/owner/market/", [("state", "confirmed\x00")], 400, "NUL character"),
    ("renter", "GET", "/api/v1/timeslots", [("start", "9999-12-31T23:59:00Z")], 400, "Give a date from 2000 to 2100."),
    (
        "renter",
        "GET",
        "/api/v1/timeslots",
        [("start", "0001-01-01T00:00:00Z"), ("end", "0001-01-02T00:00:00Z")],
        400,
        "Give a date from 2000 to 2100.",
    ),
    ("renter", "GET", "/api/v1/timeslots", [("offering", "99999999999999999999")], 400, "less than or equal to"),
    ("renter", "GET", "/api/v1/bookings", [("state", "x\x00")], 400, "NUL character"),
    ("renter", "GET", "/api/v1/billing/statements/0/1", [], 400, "Give a date from 2000 to 2100."),
    ("renter", "GET", "/api/v1/billing/statements/9999/12", [], 400, "Give a date from 2000 to 2100."),
    ("renter", "GET", "/api/v1/billing/statements/2026/13", [], 400, "Give a month from 1 to 12."),
    ("renter", "GET", "/api/v1/billing/statements/99999999999999999999/1", [], 400, "Give a date from 2000 to 2100."),
    ("renter", "GET", "/api/v1/timeslots/99999999999999999999/usage", [], 404, "not_found"),
    ("renter", "GET", "/api/v1/bookings/99999999999999999999", [], 404, "not_found"),
    ("renter", "GET", "/market/bookings/99999999999999999999/release", [], 302, ""),
    ("renter", "GET", "/bookings/99999999999999999999/server/", [], 404, ""),
    ("renter", "GET", "/api/v1/bookings", [("limit", "99999999999999999999")], 400, "from 1 to 200"),
    ("renter", "GET", "/market/slices/{slice}/request", [("bid", "0"), ("next", "0")], 302, ""),
    ("renter", "GET", "/market/slices/{slice}/request", [("next", "0001-01-01T00:00")], 200, "Buy this slice?"),
    ("renter", "POST", "/api/v1/timeslots/1-2-3-4:%C3%A9/quote", [], 404, "Unknown slice id"),
    ("renter", "GET", "/market/slices/1-2-3-4:%C3%A9/request", [], 302, ""),
    ("anonymous", "GET", "/offerings/", [("ram", "1e999999999")], 200, "no more than 12 digits"),
    (
        "anonymous",
        "GET",
        "/offerings/",
        [("max_price", "1e999999999"), ("currency", "USD")],
        200,
        "no more than 14 digits",
    ),
    ("renter", "GET", "/market/slices/", [("ram", "1e999999999")], 200, "no more than 12 digits"),
]


@pytest.mark.parametrize(("role", "method", "path", "params", "status", "words"), FOUND)
def test_found_inputs_get_a_clear_refusal(world, role, method, path, params, status, words):  # type: ignore[no-untyped-def]
    path = path.replace("{slice}", world["slice"])
    response = _send(world["clients"][role], method, path, params, as_json=False)
    _check(response, method, path, params)
    assert response.status_code == status
    assert words in response.content.decode()


@pytest.mark.parametrize("curve", ["[[0, 1e999]]", "[[0, NaN]]", "[[0, 1], [100, " + "9" * 5000 + "]]"])
def test_a_surge_curve_the_database_cannot_hold_is_a_form_error(owner, curve):  # type: ignore[no-untyped-def]
    from owners.models import PricingPolicy, SliceProfile

    offer = factories.offering(owner)
    small = SliceProfile.objects.get(owner=None, name="Small")
    data = {"profile": small.pk, "model": "dynamic", "currency": "USD", "base_price": "1", "floor_price": "0.5"}
    data |= {"cap_price": "3", "surge_curve": curve, "release_charge": "prorated"}
    response = login(owner).post(f"/owner/offerings/{offer.pk}/pricing/new", data)
    assert response.status_code == 200
    assert "Not a usable number" in response.content.decode()
    assert not PricingPolicy.objects.filter(offering=offer).exists()


@pytest.mark.parametrize("amount", ["1e999999999", "1E+20"])
def test_an_amount_beyond_any_account_is_a_form_error(renter, amount):  # type: ignore[no-untyped-def]
    from renters.models import RenterSettings

    response = login(renter).post("/account/settings/", {"spend_limit": amount, "currency": "USD"})
    assert response.status_code == 200
    assert "too large an amount" in response.content.decode()
    assert not RenterSettings.objects.filter(user=renter, spend_limit__isnull=False).exists()


def test_a_nul_in_a_json_body_is_refused_before_any_view(world, renter):  # type: ignore[no-untyped-def]
    client = world["clients"]["renter"]
    response = client.post(
        f"/api/v1/timeslots/{world['slice']}/request", '{"image": "ubuntu\\u0000"}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert "NUL character" in response.json()["detail"]
    assert Booking.objects.filter(renter=renter).count() == 1  # only the fixture's
    escaped = client.post(  # an escaped backslash before "u0000" is text, not a NUL: the view answers
        f"/api/v1/timeslots/{world['slice']}/request", '{"image": "a\\\\u0000"}', content_type="application/json"
    )
    assert "NUL character" not in escaped.content.decode()
