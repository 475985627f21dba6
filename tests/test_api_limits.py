"""The API's limits (issue 13, item 3): request rates per token and per anonymous address (429 with
Retry-After), bounded pages, and JSON for every answer under /api/, errors included (404, 405, 500),
in the documented shape {"error": code, "detail": message, ...}, with DEBUG on as well as off."""

from __future__ import annotations

import json

import pytest
import time_machine
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import api_token_create
from marketplace import views as site_views
from marketplace.lib.api import BoundedLimitOffsetPagination
from scheduling.models import Booking
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _start_of_a_window():  # type: ignore[no-untyped-def]
    with time_machine.travel("2026-12-01T10:00:05Z", tick=False) as traveller:
        yield traveller


def _rates(settings, **rates: str) -> None:  # type: ignore[no-untyped-def]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _assert_429(response, retry_after: int, words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429 and response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == str(retry_after)
    body = response.json()
    assert body["error"] == "rate_limited" and body["retry_after"] == retry_after
    assert words in body["detail"] and f"Expected available in {retry_after} seconds" in body["detail"]


# ---- rates -------------------------------------------------------------------------------------------


def test_each_token_has_its_own_rate_and_gets_429_with_retry_after(renter, settings):
    _rates(settings, token="3/m", anon="off")
    _, first = api_token_create(actor=renter, name="a")
    _, second = api_token_create(actor=renter, name="b")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {first}")
    assert [api.get("/api/v1/me").status_code for _ in range(3)] == [200] * 3
    _assert_429(api.get("/api/v1/me"), 55, "Too many requests with this API token: at most 3 per minute.")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {second}").get("/api/v1/me").status_code == 200


def test_the_next_window_lets_the_token_in_again(renter, settings, _start_of_a_window):  # type: ignore[no-untyped-def]
    _rates(settings, token="2/m", anon="off")
    _, raw = api_token_create(actor=renter, name="a")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api.get("/api/v1/me"), api.get("/api/v1/me")
    assert api.get("/api/v1/me").status_code == 429
    _start_of_a_window.shift(55)
    assert api.get("/api/v1/me").status_code == 200


def test_a_signed_in_session_is_limited_per_user(renter, settings):
    _rates(settings, token="2/m", anon="off")
    me = login(renter)
    assert [me.get("/api/v1/bookings").status_code for _ in range(2)] == [200, 200]
    _assert_429(me.get("/api/v1/bookings"), 55, "Too many requests from your account")
    assert login(factories.renter()).get("/api/v1/bookings").status_code == 200


def test_anonymous_calls_are_limited_per_address(settings):
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0  # the page limit (middleware) off: this is the API's own
    settings.MARKETPLACE_API_SCHEMA_PUBLIC = True  # the one endpoint anonymous callers may read, when public
    _rates(settings, token="off", anon="2/m")
    client = Client()
    assert [client.get("/api/v1/schema", REMOTE_ADDR="192.0.2.7").status_code for _ in range(2)] == [200, 200]
    _assert_429(client.get("/api/v1/schema", REMOTE_ADDR="192.0.2.7"), 55, "Too many requests from your address")
    assert client.get("/api/v1/schema", REMOTE_ADDR="192.0.2.8").status_code == 200


def test_guessing_tokens_is_limited_per_address(renter, settings):
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0
    _rates(settings, token="100/m", anon="3/m")
    guesser = Client(REMOTE_ADDR="192.0.2.9")
    for n in range(3):
        assert guesser.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer tsm_guess{n}").status_code == 401
    _assert_429(guesser.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer tsm_guess9"), 55, "with invalid credentials")
    _, raw = api_token_create(actor=renter, name="real")
    assert Client(REMOTE_ADDR="192.0.2.10", HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").status_code == 200


def test_off_turns_a_rate_off(renter, settings):
    _rates(settings, token="off", anon="off")
    _, raw = api_token_create(actor=renter, name="bench")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert {api.get("/api/v1/me").status_code for _ in range(30)} == {200}


def test_a_malformed_rate_is_refused_at_start_up():
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='marketplace.settings'; "
            "import marketplace.settings",
        ],
        env={**__import__("os").environ, "MARKETPLACE_API_RATE_TOKEN": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "MARKETPLACE_API_RATE_TOKEN='lots'" in result.stderr


# ---- pages -------------------------------------------------------------------------------------------


@pytest.fixture
def three_bookings(renter, owner):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True)
    for n in range(3):
        Booking.objects.create(
            renter=renter,
            offering=offer,
            profile=offer.pricing_policies.first().profile,
            pricing_model="fixed",
            state="completed",
            starts_at=f"2027-01-0{n + 1}T10:00:00Z",
            ends_at=f"2027-01-0{n + 1}T11:00:00Z",
            vcpus=1,
            ram_mib=1024,
            disk_gb=1,
            bandwidth_mbps=1,
            grid_seconds=60,
            currency="USD",
            unit_price=1,
            total_price=60,
        )
    return renter


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("limit=0", "limit", "Give a whole number from 1 to 200."),
        ("limit=-1", "limit", "Give a whole number from 1 to 200."),
        ("limit=201", "limit", "Give a whole number from 1 to 200."),
        ("limit=99999999999999999999", "limit", "Give a whole number from 1 to 200."),
        ("limit=ten", "limit", "Give a whole number from 1 to 200."),
        ("limit=1.5", "limit", "Give a whole number from 1 to 200."),
        ("limit=%EF%BC%95", "limit", "Give a whole number from 1 to 200."),  # a full-width digit five
        ("offset=-1", "offset", "Give a whole number from 0 to 1,000,000."),
        ("offset=1000001", "offset", "Give a whole number from 0 to 1,000,000."),
        ("offset=" + "9" * 5000, "offset", "Give a whole number from 0 to 1,000,000."),
        ("limit=5&offset=x", "offset", "Give a whole number from 0 to 1,000,000."),
    ],
)
def test_page_bounds_out_of_range_are_a_400_naming_the_parameter(three_bookings, query, field, words):
    refused = login(three_bookings).get(f"/api/v1/bookings?{query}")
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid", "detail": f"{field}: {words}", "fields": {field: [words]}}


def test_pages_within_bounds(three_bookings):
    me = login(three_bookings)
    page = me.get("/api/v1/bookings?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and "offset=2" in page["next"]
    assert len(me.get("/api/v1/bookings?limit=200").json()["results"]) == 3
    assert len(me.get("/api/v1/bookings?limit=&offset=").json()["results"]) == 3  # empty: the defaults
    assert me.get("/api/v1/bookings?offset=1000000").json()["results"] == []
    assert len(me.get("/api/v1/bookings?offset=2").json()["results"]) == 1


def test_the_schema_states_the_page_bounds():
    params = {p["name"]: p["schema"] for p in BoundedLimitOffsetPagination().get_schema_operation_parameters(None)}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 200)
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, 1_000_000)


# ---- JSON for every answer under /api/ ------------------------------------------------------------


class _Boom(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug in a view")


def _plain_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a plain view")


# This module is also the URLconf of the tests marked urls(__name__): the site's plus two broken views.
urlpatterns = [
    path("api/v1/test-boom", _Boom.as_view()),
    path("api/v1/test-plain-boom", _plain_boom),
    path("", include("marketplace.urls")),
]


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_paths_under_api_are_a_json_404_that_lists_no_patterns(renter, settings, debug):
    settings.DEBUG = debug
    for client in (Client(), login(renter)):
        for url in ("/api/v1/no-such-thing", "/api/", "/api/v2/timeslots", "/api/v1/bookings/"):
            r = client.get(url)
            assert r.status_code == 404 and r["Content-Type"].startswith("application/json"), url
            assert r.json() == {"error": "not_found", "detail": f"There is no API endpoint at {url}."}
            assert "URLconf" not in r.content.decode() and "admin/" not in r.content.decode()
        for method in ("post", "put", "delete"):  # a write to a mistyped path: a 404, not the CSRF page
            r = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/timeslot/x/request")
            assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_wrong_method_is_a_json_405_with_allow(renter):
    r = login(renter).delete("/api/v1/bookings")
    assert r.status_code == 405 and r["Content-Type"].startswith("application/json")
    assert r.json() == {"error": "method_not_allowed", "detail": 'Method "DELETE" not allowed.'}
    assert "GET" in r["Allow"]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/api/v1/test-boom", "/api/v1/test-plain-boom"])
def test_a_server_error_under_api_is_json_and_logged(renter, settings, debug, url, caplog):
    settings.DEBUG = debug
    client = login(renter)
    client.raise_request_exception = False
    r = client.get(url)
    assert r.status_code == 500 and r["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "server_error" and "has been logged" in body["detail"]
    assert body["request_id"] and body["request_id"] in body["detail"]  # to quote when reporting it
    assert "a bug in" not in r.content.decode() and "Traceback" not in r.content.decode()
    logged = [rec for rec in caplog.records if rec.name == "django.request" and rec.levelname == "ERROR"]
    assert logged and logged[0].exc_info and "a bug in" in str(logged[0].exc_info[1])


@pytest.mark.urls(__name__)
def test_the_test_client_still_raises_the_error():
    with pytest.raises(RuntimeError, match="a bug in a plain view"):
        Client().get("/api/v1/test-plain-boom")


def test_the_500_and_400_handlers_answer_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    api = site_views.server_error(factory.get("/api/v1/bookings"))
    assert api.status_code == 500 and json.loads(api.content)["error"] == "server_error"
    page = site_views.server_error(factory.get("/market/"))
    assert page.status_code == 500 and not page["Content-Type"].startswith("application/json")
    bad = site_views.bad_request(factory.get("/api/v1/bookings"), None)
    assert bad.status_code == 400 and json.loads(bad.content)["error"] == "invalid"


def test_a_body_over_the_upload_limit_is_a_json_400(renter, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _, raw = api_token_create(actor=renter, name="big")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.raise_request_exception = False
    r = client.post("/api/v1/billing/topups", {"amount": "1" * 5000}, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json"), r.content[:300]
    assert r.json()["error"] == "invalid"
