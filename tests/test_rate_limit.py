"""Anonymous pages are rate-limited per client address (issue 14, item 2): a 429 with Retry-After once
the window's allowance is spent, JSON under /api/; signed-in users, token API calls and the health
check are not counted; the refusal costs no database query."""

from __future__ import annotations

import json

import pytest
import time_machine
from django.test import Client

from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_allowance(settings):  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 3
    settings.MARKETPLACE_ANON_RATE_SECONDS = 60


@pytest.fixture(autouse=True)
def _start_of_a_window():  # type: ignore[no-untyped-def]
    with time_machine.travel("2026-12-01T10:00:05Z", tick=False) as traveller:
        yield traveller


def test_anonymous_pages_get_429_with_retry_after_once_the_allowance_is_spent(django_assert_num_queries):  # type: ignore[no-untyped-def]
    client = Client()
    assert [client.get("/offerings/").status_code for _ in range(2)] == [200, 200]
    assert client.get("/").status_code == 200  # every anonymous page counts against the same address
    with django_assert_num_queries(0):
        refused = client.get("/offerings/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "55"  # the window (10:00:00-10:01:00) ends in 55 s
    assert "Too many requests from your address: try again in 55 s" in refused.content.decode()


def test_the_api_answers_429_in_json():  # type: ignore[no-untyped-def]
    client = Client()
    for _ in range(3):
        assert client.get("/api/v1/timeslots").status_code == 401
    refused = client.get("/api/v1/timeslots")
    assert refused.status_code == 429 and refused["Retry-After"] == "55"
    body = json.loads(refused.content)
    assert body["error"] == "rate_limited" and body["retry_after"] == 55
    assert body["detail"].startswith("Too many requests from your address")


def test_the_next_window_lets_the_address_in_again(_start_of_a_window):  # type: ignore[no-untyped-def]
    client = Client()
    for _ in range(3):
        client.get("/")
    assert client.get("/").status_code == 429
    _start_of_a_window.shift(55)
    assert client.get("/").status_code == 200


def test_each_address_has_its_own_allowance_and_an_ipv6_host_is_counted_by_its_64():  # type: ignore[no-untyped-def]
    client = Client()
    for _ in range(3):
        client.get("/", REMOTE_ADDR="192.0.2.1")
    assert client.get("/", REMOTE_ADDR="192.0.2.1").status_code == 429
    assert client.get("/", REMOTE_ADDR="192.0.2.2").status_code == 200
    for n in range(3):
        assert client.get("/", REMOTE_ADDR=f"2001:db8:1:2::{n + 1}").status_code == 200
    assert client.get("/", REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429  # same /64
    assert client.get("/", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200  # another /64


def test_signed_in_users_token_calls_and_the_health_check_are_not_counted(renter):  # type: ignore[no-untyped-def]
    from accounts import services as account_services

    me = login(renter)
    assert [me.get("/offerings/").status_code for _ in range(6)] == [200] * 6
    _, raw = account_services.api_token_create(actor=renter, name="t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert [api.get("/api/v1/me").status_code for _ in range(6)] == [200] * 6
    anonymous = Client()
    assert [anonymous.get("/healthz").status_code < 429 for _ in range(6)] == [True] * 6
    assert anonymous.get("/").status_code == 200  # none of the above used the anonymous allowance


def test_a_forged_authorization_header_does_not_exempt_a_portal_page():  # type: ignore[no-untyped-def]
    client = Client(HTTP_AUTHORIZATION="Bearer not-a-token")
    for _ in range(3):
        client.get("/offerings/")
    assert client.get("/offerings/").status_code == 429


def test_zero_turns_the_limit_off(settings):  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0
    client = Client()
    assert {client.get("/").status_code for _ in range(6)} == {200}
