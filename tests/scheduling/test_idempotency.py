"""Idempotency-Key on the market's writes (API) and one key per rendered form (portal), Stripe's rules:
same key and body -> the first answer replayed; same key, other body -> 422; kept 24 hours."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.models import IdempotencyKey
from accounts.tasks import purge_idempotency_keys
from scheduling.models import Booking, Quote
from tests import factories
from tests.conftest import login
from tests.market_fixtures import NOW

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def api(user) -> APIClient:  # type: ignore[no-untyped-def]
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def _buy(c: APIClient, sid: str, key: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    return c.post(f"/api/v1/timeslots/{sid}/request", body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_first_answer_and_buys_once(renter, offer):
    c = api(renter)
    sid = factories.slice_id(offer, T10, 600)
    first = _buy(c, sid, "order-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = _buy(c, sid, "order-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Booking.objects.count() == 1
    # Without a key, a request acts each time (as before).
    assert c.post(f"/api/v1/timeslots/{sid}/request", {}, format="json").status_code == 201
    assert Booking.objects.count() == 2


def test_same_key_with_another_body_or_endpoint_is_422_and_changes_nothing(renter, offer):
    c = api(renter)
    sid = factories.slice_id(offer, T10, 600)
    assert _buy(c, sid, "order-1").status_code == 201
    other_body = _buy(c, sid, "order-1", {"duration": 1200})
    assert other_body.status_code == 422
    assert other_body.json() == {
        "error": "idempotency_key_reused",
        "detail": "This Idempotency-Key was already used for a different request; use a new key for a new request.",
    }
    other_slice = _buy(c, factories.slice_id(offer, T10 + timedelta(hours=1), 600), "order-1")
    assert other_slice.status_code == 422
    assert Booking.objects.count() == 1


def test_a_preview_with_a_key_leaves_the_key_for_the_real_request(renter, offer):
    """A client that asks the price with its key, then acts with the same key, gets the act, not the preview."""
    c = api(renter)
    sid = factories.slice_id(offer, T10, 600)
    preview = c.post(f"/api/v1/timeslots/{sid}/request?preview=1", {}, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert preview.status_code == 200 and preview.json()["preview"] is True
    assert Booking.objects.count() == 0 and not IdempotencyKey.objects.exists()
    bought = _buy(c, sid, "buy-1")
    assert bought.status_code == 201 and "Idempotent-Replayed" not in bought
    assert Booking.objects.filter(renter=renter, state="confirmed").count() == 1
    booking_id = bought.json()["id"]
    url = f"/api/v1/timeslots/{booking_id}/release"
    asked = c.post(url + "?preview=1", {}, format="json", HTTP_IDEMPOTENCY_KEY="release-1")
    assert asked.status_code == 200 and Booking.objects.get(pk=booking_id).state == "confirmed"
    released = c.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="release-1")
    assert released.status_code == 200 and "Idempotent-Replayed" not in released
    assert Booking.objects.get(pk=booking_id).state == "released"


def test_keys_are_per_user(renter, offer):
    sid = factories.slice_id(offer, T10, 600)
    assert _buy(api(renter), sid, "shared-key").status_code == 201
    second = _buy(api(factories.renter()), sid, "shared-key")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert Booking.objects.count() == 2


def test_a_market_conflict_is_replayed_but_refused_input_frees_the_key(renter, offer):
    c = api(renter)
    sid = factories.slice_id(offer, T10, 600)
    bad = _buy(c, sid, "k", {"duration": "soon"})
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()  # nothing kept: the corrected request may use the key
    assert _buy(c, sid, "k", {"duration": 600}).status_code == 201
    for _ in range(3):  # the offering fits four Small slices at once
        assert _buy(c, sid, f"fill-{_}").status_code == 201
    full = _buy(c, sid, "late")
    assert full.status_code == 409 and full.json()["error"] != "idempotency_in_progress"
    replayed = _buy(c, sid, "late")
    assert (replayed.status_code, replayed.json(), replayed["Idempotent-Replayed"]) == (409, full.json(), "true")
    assert Booking.objects.filter(state="confirmed").count() == 4


def test_bad_keys_are_refused(renter, offer):
    sid = factories.slice_id(offer, T10, 600)
    for key in ("   ", "x" * 256):
        r = _buy(api(renter), sid, key)
        assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]
    assert Booking.objects.count() == 0


def test_quote_and_release_honour_the_key(renter, owner):
    dyn = factories.dynamic_offering(owner)
    c = api(renter)
    sid = factories.slice_id(dyn, T10, 600)
    q1 = c.post(f"/api/v1/timeslots/{sid}/quote", {}, format="json", HTTP_IDEMPOTENCY_KEY="q")
    q2 = c.post(f"/api/v1/timeslots/{sid}/quote", {}, format="json", HTTP_IDEMPOTENCY_KEY="q")
    assert q1.status_code == q2.status_code == 201 and q1.json() == q2.json()
    assert Quote.objects.count() == 1
    booking = _buy(c, sid, "b", {"quote": q1.json()["id"]}).json()
    url = f"/api/v1/timeslots/{booking['id']}/release"
    r1 = c.post(url, HTTP_IDEMPOTENCY_KEY="rel")
    r2 = c.post(url, HTTP_IDEMPOTENCY_KEY="rel")
    assert r1.status_code == r2.status_code == 200
    assert r2.json() == r1.json() and r2["Idempotent-Replayed"] == "true"
    # A second release without the key is refused by the market (the booking is already released).
    assert c.post(url).status_code == 409


def test_keys_are_kept_24_hours_then_act_again_and_are_purged(renter, offer):
    c = api(renter)
    sid = factories.slice_id(offer, T10, 600)
    assert _buy(c, sid, "daily").status_code == 201
    with time_machine.travel(NOW + timedelta(hours=23, minutes=59)):
        assert _buy(c, sid, "daily")["Idempotent-Replayed"] == "true"
        assert purge_idempotency_keys() == 0
    with time_machine.travel(NOW + timedelta(hours=24, minutes=1)):
        assert purge_idempotency_keys() == 1
        assert not IdempotencyKey.objects.exists()
        again = _buy(c, sid, "daily")
        assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Booking.objects.count() == 2


def test_an_expired_key_not_yet_purged_is_taken_over(renter, offer):
    c = api(renter)
    assert _buy(c, factories.slice_id(offer, T10, 600), "k").status_code == 201
    with time_machine.travel(NOW + timedelta(hours=25)):
        # A different request may now use the key: the old answer is gone.
        assert _buy(c, factories.slice_id(offer, T10, 1200), "k").status_code == 201
    assert Booking.objects.count() == 2 and IdempotencyKey.objects.count() == 1


# ---- the portal: one key per rendered form -------------------------------------------------------

QUERY = "?start=2026-12-01T10:00&end=2026-12-01T11:00&duration=600&ordering=start"


def _form_keys(html: str) -> list[str]:
    return re.findall(r'name="idempotency_key" value="([0-9a-f]{32})"', html)


def _confirmation(c, sid):  # type: ignore[no-untyped-def]
    """The buy form a renter submits: on the page that shows the price first (Buy on the search page opens it)."""
    page = c.get(f"/market/slices/{sid}/request", {"next": "/market/slices/" + QUERY})
    assert page.status_code == 200 and "cost-preview" in page.content.decode()
    return page.content.decode()


def test_each_rendered_buy_form_carries_its_own_key(renter, offer):
    c = login(renter)
    sids = [factories.slice_id(offer, T10 + timedelta(minutes=10 * i), 600) for i in range(3)]
    keys = [k for sid in sids for k in _form_keys(_confirmation(c, sid))]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert set(_form_keys(_confirmation(c, sids[0]))).isdisjoint(keys)


def test_a_double_click_on_buy_buys_once_and_shows_the_first_answer(renter, offer):
    c = login(renter)
    sid = factories.slice_id(offer, T10, 600)
    key = _form_keys(_confirmation(c, sid))[0]
    form = {"next": "/market/slices/" + QUERY, "idempotency_key": key}
    first = c.post(f"/market/slices/{sid}/request", form)
    second = c.post(f"/market/slices/{sid}/request", form, follow=True)
    booking_page = f"/bookings/{Booking.objects.get().pk}/server/"
    assert first.status_code == 302 and first.url == booking_page
    assert second.redirect_chain == [(booking_page, 302)]
    page = second.content.decode()
    assert "This form had already been sent, so it was not sent again." in page
    assert Booking.objects.count() == 1
    # The same form sent back with other values (the back button, another bid) is refused, not acted on.
    changed = c.post(f"/market/slices/{sid}/request", {**form, "duration": "1200"}, follow=True)
    assert "This form was already sent with other values" in changed.content.decode()
    assert Booking.objects.count() == 1


def test_the_quote_pages_buy_form_carries_a_key(renter, owner):
    dyn = factories.dynamic_offering(owner)
    page = login(renter).post(f"/market/slices/{factories.slice_id(dyn, T10, 600)}/quote").content.decode()
    assert len(_form_keys(page)) == 1
