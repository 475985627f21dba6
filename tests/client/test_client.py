"""The Python client and the CLI (clients/python) against a live server: search finds the slice,
request books it, pages are followed, API errors arrive as exceptions with the API's code, a 429 is
retried after its Retry-After, extend and release, and the CLI prints tables, JSON and follows a
booking to its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from slicemarket import BadRequest, Booking, Client, Conflict, Forbidden, NotFound, RateLimited, Unauthorized

from accounts.services import api_token_create
from tests import factories
from tests.client.conftest import CLIENT_SRC

pytestmark = pytest.mark.django_db(transaction=True)


def _hour_ahead() -> datetime:
    """A whole minute about an hour from now (slices sit on the offering's one-minute grid)."""
    return (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)


@pytest.fixture
def market(live_server):  # type: ignore[no-untyped-def]
    """One published offering with room for one Small at a time, 1.00 per minute; a funded renter
    with an API token; a client for it."""
    owner = factories.owner()
    offer = factories.offering(
        owner, publish=True, bandwidth_mbps=250, pricing={"model": "fixed", "price_per_unit": 100}
    )
    renter = factories.renter()
    factories.fund_renter(renter, 1_000_000)
    _, token = api_token_create(actor=renter, name="client tests")
    client = Client(live_server.url, token=token, timeout=10, retries=2)
    return {"url": live_server.url, "token": token, "offer": offer, "renter": renter, "client": client}


def slice_at(market, start: datetime, length: int = 300) -> str:  # type: ignore[no-untyped-def]
    return factories.slice_id(market["offer"], start, length)


def test_search_finds_the_slice_and_request_books_it(market):  # type: ignore[no-untyped-def]
    c: Client = market["client"]
    start = _hour_ahead()
    found = list(c.search(cpu=1, ram=1, start=start, end=start + timedelta(minutes=20), duration=300, limit=2))
    assert found, "the offering's slices are listed"
    assert all(s.offering and s.offering["id"] == market["offer"].pk for s in found)
    first = found[0]
    assert (first.duration, first.currency, first.unit_price, first.total_price) == (300, "USD", "1.00", "5.00")
    assert len({s.id for s in found}) == len(found) > 2  # several pages (limit=2) walked, each slice once

    booking = c.request(first.id)
    assert isinstance(booking, Booking)
    assert booking.state == "confirmed" and booking.slice_id == first.id
    assert booking.total_price == "5.00" and booking.cost and booking.cost["action"] == "buy"
    # The slice is no longer for sale.
    again = {s.id for s in c.search(start=start, end=start + timedelta(minutes=20), duration=300)}
    assert first.id not in again


def test_bookings_iterate_across_pages_newest_first(market):  # type: ignore[no-untyped-def]
    c: Client = market["client"]
    start = _hour_ahead()
    made = [c.request(slice_at(market, start + timedelta(minutes=5 * n))).id for n in range(3)]
    listed = [b.id for b in c.bookings(limit=1)]  # one per page: three pages
    assert listed == sorted(made, reverse=True)
    assert c.booking(made[1]).id == made[1]
    with pytest.raises(NotFound):
        c.booking(made[0] + 1000)


def test_api_errors_are_exceptions_with_the_api_code(market):  # type: ignore[no-untyped-def]
    c: Client = market["client"]
    with pytest.raises(NotFound) as missing:
        c.usage(987654)
    assert missing.value.status == 404 and missing.value.code == "not_found"

    with pytest.raises(BadRequest) as bad:
        list(c.search(cpu=0))
    assert bad.value.code == "invalid" and "cpu" in bad.value.fields

    sid = slice_at(market, _hour_ahead())
    c.request(sid)
    other = factories.renter()
    factories.fund_renter(other, 1_000_000)
    _, token = api_token_create(actor=other, name="other")
    with pytest.raises(Conflict) as taken:
        Client(market["url"], token=token).request(sid)
    assert taken.value.status == 409 and taken.value.code and taken.value.message

    with pytest.raises(Unauthorized) as anonymous:
        Client(market["url"], token="not-a-token").usage(1)
    assert anonymous.value.status == 401


def test_a_429_is_retried_after_retry_after(market, settings):  # type: ignore[no-untyped-def]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/s", "anon": "off"}}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    c = Client(market["url"], token=market["token"], retries=3, sleep=sleep)
    for _ in range(5):
        list(c.bookings())
    assert waits and all(0 < w <= 1 for w in waits)  # the server's Retry-After (the window's end), honoured

    impatient = Client(market["url"], token=market["token"], retries=0)
    with pytest.raises(RateLimited) as refused:
        for _ in range(5):
            list(impatient.bookings())
    assert refused.value.code == "rate_limited" and refused.value.retry_after


def test_extend_and_release(market):  # type: ignore[no-untyped-def]
    c: Client = market["client"]
    start = _hour_ahead()
    booking = c.request(slice_at(market, start))
    assert isinstance(booking, Booking)
    longer = c.extend(booking.id, 120)
    assert isinstance(longer, Booking)
    assert longer.duration == 420 and longer.extension and longer.extension["seconds"] == 120
    with pytest.raises(BadRequest):
        c.extend(booking.id, 7)  # not a multiple of the one-minute grid
    # Someone else buys the time after it: the 409 says how much is left.
    other = factories.renter()
    factories.fund_renter(other, 1_000_000)
    _, token = api_token_create(actor=other, name="other")
    Client(market["url"], token=token).request(slice_at(market, start + timedelta(seconds=540)))
    with pytest.raises(Conflict) as short:
        c.extend(booking.id, 600)
    assert short.value.code == "extension_unavailable" and short.value.get("longest_seconds") == 120
    refused = cli(market, "extend", str(booking.id), "--duration", "600")
    assert refused.returncode == 1 and "409 extension_unavailable" in refused.stderr
    assert "longest extension that can be granted: 120 s" in refused.stderr

    released = c.release(booking.id)
    assert isinstance(released, Booking) and released.state == "released"
    assert c.usage(booking.id).ended


# ---- the CLI, as a user runs it ---------------------------------------------------------------------


def cli(market, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    env = os.environ | {
        "SLICEMARKET_URL": market["url"],
        "SLICEMARKET_TOKEN": market["token"],
        "PYTHONPATH": os.pathsep.join([str(CLIENT_SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "slicemarket.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_cli_search_and_book_print_tables_and_json(market):  # type: ignore[no-untyped-def]
    start = _hour_ahead()
    window = ["--start", start.isoformat(), "--end", (start + timedelta(minutes=10)).isoformat()]
    shown = cli(market, "search", "--cpu", "1", "--ram", "1", *window, "--duration", "300")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["SLICE", "OFFERING", "REGION"]
    sid = slice_at(market, start)
    row = next(line for line in lines if line.startswith(sid))
    assert market["offer"].name in row and "5.00" in row
    # Aligned: every row's columns start where the header's do.
    assert lines[0].index("OFFERING") == row.index(market["offer"].name)

    as_json = cli(market, "search", *window, "--duration", "300", "--json")
    assert as_json.returncode == 0
    assert sid in [s["id"] for s in json.loads(as_json.stdout)]

    booked = cli(market, "book", sid, "--json")
    assert booked.returncode == 0, booked.stderr
    booking = json.loads(booked.stdout)
    assert booking["state"] == "confirmed" and booking["slice_id"] == sid

    sold_out = cli(market, "search", "--start", start.isoformat(), "--end", (start + timedelta(minutes=5)).isoformat())
    assert sold_out.returncode == 0
    assert sold_out.stdout.splitlines()[0] == "No slices found." and len(sold_out.stdout.splitlines()) > 1  # and why

    listed = cli(market, "bookings")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split()[0] == "ID"
    assert any(line.split()[:2] == [str(booking["id"]), "confirmed"] for line in listed.stdout.splitlines())

    taken = cli(market, "book", sid)
    assert taken.returncode == 1 and taken.stdout == ""
    assert taken.stderr.startswith("slicemarket: 409 ")

    missing = cli(market, "usage", "987654")
    assert missing.returncode == 1 and "404 not_found" in missing.stderr

    extended = cli(market, "extend", str(booking["id"]), "--duration", "60", "--json")
    assert extended.returncode == 0 and json.loads(extended.stdout)["duration"] == 360

    usage = cli(market, "usage", str(booking["id"]))
    assert usage.returncode == 0 and usage.stdout.splitlines()[1].split()[:2] == [str(booking["id"]), "confirmed"]


def test_cli_watch_follows_the_booking_until_it_ends(market):  # type: ignore[no-untyped-def]
    c: Client = market["client"]
    booking = c.request(slice_at(market, _hour_ahead()))
    gave_up = cli(market, "watch", str(booking.id), "--interval", "0.2", "--timeout", "0.5")
    assert gave_up.returncode == 4 and "still confirmed" in gave_up.stderr
    env_url = market["url"]
    release_after = threading.Timer(1.5, lambda: Client(env_url, token=market["token"]).release(booking.id))
    release_after.start()
    try:
        watched = cli(market, "watch", str(booking.id), "--interval", "0.3", "--timeout", "20")
    finally:
        release_after.cancel()
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["confirmed", "released"]
    assert all(line[:4].isdigit() and f"booking {booking.id}" in line for line in lines)


def test_cli_needs_a_url_and_reports_bad_input(market):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLICEMARKET_")}
    env["PYTHONPATH"] = str(CLIENT_SRC)
    no_url = subprocess.run(
        [sys.executable, "-m", "slicemarket.cli", "bookings"], env=env, capture_output=True, text=True, timeout=30
    )
    assert no_url.returncode == 2 and "SLICEMARKET_URL" in no_url.stderr
    bad = cli(market, "search", "--cpu", "0")
    assert bad.returncode == 1 and "400 invalid" in bad.stderr and "cpu" in bad.stderr


def test_owner_reads_and_sets_an_offerings_standby_pool(market):  # type: ignore[no-untyped-def]
    offer = market["offer"]
    _, token = api_token_create(actor=offer.owner, name="owner")
    owner = Client(market["url"], token=token)
    assert owner.standby(offer.pk).pools == []
    small = offer.pricing_policies.get().profile
    after = owner.set_standby(offer.pk, profile=small.pk, size=1)
    assert [(p["profile"], p["size"]) for p in after.pools or []] == [(small.pk, 1)]
    assert after.held_back and after.held_back["vcpus"] == small.vcpus
    with pytest.raises(Forbidden):
        market["client"].standby(offer.pk)  # the owner API is for owners
    with pytest.raises(BadRequest) as too_big:
        owner.set_standby(offer.pk, profile=small.pk, size=65)
    assert "size" in too_big.value.fields

    shown = cli(market | {"token": token}, "standby", str(offer.pk))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1].split()[1:3] == [str(small.pk), small.name]


def test_the_package_installs_with_pip_and_its_console_script_runs(market, tmp_path):  # type: ignore[no-untyped-def]
    """What requirements.txt's ``-e ./clients/python`` relies on: pip builds it (setuptools only) and
    installs the ``slicemarket`` command."""
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(CLIENT_SRC)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert installed.returncode == 0, installed.stderr
    script = target / "bin" / "slicemarket"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLICEMARKET_")} | {"PYTHONPATH": str(target)}
    ran = subprocess.run(
        [str(script), "--url", market["url"], "--token", market["token"], "bookings", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == []


def test_price_history_lists_the_offerings_price_changes(market):  # type: ignore[no-untyped-def]
    client = market["client"]
    offer = market["offer"]
    list(client.search(offering=offer.pk, duration=300))  # records the listed price once
    list(client.search(offering=offer.pk, duration=300))
    points = list(client.price_history(offer.pk, since=datetime.now(UTC) - timedelta(hours=1)))
    assert [(p.source, p.unit_price, p.currency) for p in points] == [("fixed", "1.00", "USD")]
    with pytest.raises(BadRequest) as refused:
        list(client.price_history(offer.pk, profile=999_999))
    assert "no price for profile" in str(refused.value)
    with pytest.raises(NotFound):
        list(client.price_history(999_999))
