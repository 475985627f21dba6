"""Issue 15 item 1: the portal shows and reads times in the user's zone, names it; the API stays in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from scheduling import services
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def tokyo(renter):  # type: ignore[no-untyped-def]
    renter.timezone = "Asia/Tokyo"
    renter.save(update_fields=["timezone"])
    return renter


def test_a_tokyo_renter_searches_in_local_time_and_gets_the_utc_slice(owner, tokyo):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    # 19:00 in Tokyo (UTC+9) is 10:00 UTC.
    page = login(tokyo).get("/market/slices/?start=2026-12-01T19:00&end=2026-12-01T20:00&duration=600&ordering=start")
    assert page.status_code == 200
    slices = page.context["slices"]
    assert slices[0].starts_at == T10
    assert slices[0].offering.pk == offer.pk
    html = page.content.decode()
    assert "2026-12-01 19:00:00" in html and "2026-12-01 10:00:00" not in html
    assert "Start (Asia/Tokyo)" in html and "From (Asia/Tokyo)" in html
    assert 'Times in <span id="time-zone-name">Asia/Tokyo</span>' in html
    # The buy link carries the slice's id: the UTC slice, not one 9 hours off.
    assert factories.slice_id(offer, T10, 600) in html


def test_the_same_search_in_utc_finds_other_slices(owner, renter):
    factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    page = login(renter).get("/market/slices/?start=2026-12-01T19:00&end=2026-12-01T20:00&duration=600&ordering=start")
    assert page.context["slices"][0].starts_at == T10.replace(hour=19)
    assert "Start (UTC)" in page.content.decode()


def test_bookings_page_shows_times_in_the_zone_with_its_name(owner, tokyo):
    offer = factories.offering(owner, publish=True)
    services.booking_request(actor=tokyo, slice_id=factories.slice_id(offer, T10, 600))
    html = login(tokyo).get("/market/bookings/").content.decode()
    assert "(Asia/Tokyo)" in html and "19:00" in html
    assert "(UTC)" not in html


def test_the_api_answers_in_utc_whatever_the_users_zone(owner, tokyo):
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    b = services.booking_request(actor=tokyo, slice_id=factories.slice_id(offer, T10, 600))
    c = login(tokyo)  # a browser session: the portal's middleware sees the Tokyo user
    found = c.get("/api/v1/timeslots?start=2026-12-01T10:00:00Z&end=2026-12-01T11:00:00Z&duration=600&ordering=start")
    assert found.status_code == 200, found.content
    assert found.json()["results"][0]["start"] == "2026-12-01T10:00:00Z"
    mine = c.get(f"/api/v1/bookings/{b.pk}")
    assert mine.status_code == 200, mine.content
    assert mine.json()["starts_at"] == "2026-12-01T10:00:00Z"
    assert c.get("/api/v1/me").json()["timezone"] == "Asia/Tokyo"


def test_availability_windows_stay_in_the_offerings_zone_with_the_viewers_beside(owner, tokyo):
    offer = factories.offering(owner, publish=True, timezone="Europe/Berlin")
    factories.window(owner, offer, time(9, 0), time(17, 0), weekdays=[0])
    html = login(tokyo).get(f"/offerings/{offer.pk}/").content.decode()
    # Monday 09:00-17:00 in Berlin (UTC+1 in December) is Monday 17:00 to Tuesday 01:00 in Tokyo.
    assert "Hours (Europe/Berlin)" in html and "Mon 09:00-17:00" in html
    assert "= Mon 17:00–01:00 (into the next day) in Asia/Tokyo" in html
    owner.timezone = "Europe/Berlin"
    owner.save(update_fields=["timezone"])
    own = login(owner).get(f"/owner/offerings/{offer.pk}/").content.decode()
    assert "Your time (Europe/Berlin)" in own and "in Europe/Berlin" not in own  # same zone: nothing beside


def test_the_owners_preemption_messages_name_their_zone(owner, renter):
    offer = factories.offering(owner, publish=True)
    b = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    owner.timezone = "Asia/Tokyo"
    owner.save(update_fields=["timezone"])
    c = login(owner)
    confirm = c.post(f"/owner/market/bookings/{b.pk}/preempt", {"notice_seconds": "30"}).content.decode()
    assert "Asia/Tokyo" in confirm and " UTC" not in confirm
    done = c.post(f"/owner/market/bookings/{b.pk}/preempt", {"notice_seconds": "30", "confirm": "yes"}, follow=True)
    flash = [m.message for m in done.context["messages"]]
    assert (
        len(flash) == 1
        and flash[0].startswith(f"Booking {b.pk}: notice given until 2026-")
        and flash[0].endswith(" Asia/Tokyo.")
    )
