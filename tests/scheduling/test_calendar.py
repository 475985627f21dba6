"""Issue 15 item 3: an offering's capacity calendar (owners see who holds what; renters free and taken
time, and pick a start from it) and the iCal feed of a user's bookings behind a rotatable secret."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from audit.models import DomainEvent
from scheduling import calendar, services
from scheduling.models import BookingFeed
from tests import factories
from tests.conftest import login
from tests.market_fixtures import NOW

pytestmark = pytest.mark.django_db

TODAY = NOW.date()  # Monday 30 November 2026, 08:00 UTC
T10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
# One Small (1 vCPU, 2 GiB, 20 GB, 250 Mbit/s) fills the offering: a booking makes the time taken.
ONE_SMALL = {"vcpus": 1, "ram_mib": 2048, "disk_gb": 20, "bandwidth_mbps": 250}


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    o = factories.offering(owner, publish=True, **ONE_SMALL)
    factories.window(owner, o, time(9, 0), time(17, 0))
    return o


def _bars(cal, lane_name):  # type: ignore[no-untyped-def]
    lane = next(lane for lane in cal.lanes if lane.name == lane_name)
    return [(b.kind, b.starts_at.hour, b.ends_at.hour, b.x, b.width) for b in lane.bars]


def test_a_renter_sees_per_profile_free_spots_and_taken_time_placed_by_the_clock(offer, renter):
    services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 3600))
    cal = calendar.renter_calendar(offering=offer, day=TODAY, span="day", tz=UTC_ZONE, now=NOW, viewer=None)
    assert (cal.start, cal.end) == (datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [lane.name for lane in cal.lanes] == ["Open hours", "Small"]
    assert _bars(cal, "Open hours") == [("open", 9, 17, 37.5, 33.333)]
    # Free an hour a spot (each its own link), the booked hour taken.
    assert _bars(cal, "Small") == [
        ("free", 9, 10, 37.5, 4.167),
        ("taken", 10, 11, 41.667, 4.167),
        *[("free", h, h + 1, round(h * 100 / 24, 3), 4.167) for h in range(11, 17)],
    ]
    spots = [b for b in cal.lanes[1].bars if b.kind == "free"]
    assert spots[1].pick == T10 + timedelta(hours=1)
    assert spots[1].label == "Small: free 11:00–12:00; pick a start at 11:00"
    assert [t.label for t in cal.ticks][:3] == ["00:00", "03:00", "06:00"]
    assert cal.now_x == round(8 * 100 / 24, 3)


def test_time_before_now_is_past_and_a_week_starts_on_monday(offer):
    cal = calendar.renter_calendar(
        offering=offer, day=date(2026, 12, 3), span="week", tz=UTC_ZONE, now=NOW + timedelta(hours=4), viewer=None
    )
    assert cal.day == TODAY and cal.end - cal.start == timedelta(days=7)
    small = next(lane for lane in cal.lanes if lane.name == "Small")
    first = small.bars[0]
    assert (first.kind, first.starts_at, first.ends_at) == ("past", T10 - timedelta(hours=1), NOW + timedelta(hours=4))
    assert small.bars[1].kind == "free" and small.bars[1].pick == NOW + timedelta(hours=4)
    assert [t.label for t in cal.ticks] == ["Mon 30", "Tue 01", "Wed 02", "Thu 03", "Fri 04", "Sat 05", "Sun 06"]
    assert cal.previous_day == date(2026, 11, 23) and cal.next_day == date(2026, 12, 7)


def test_the_viewers_zone_places_and_names_the_bars(offer):
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9: 09:00-17:00 UTC is 18:00-02:00 in Tokyo
    cal = calendar.renter_calendar(offering=offer, day=TODAY, span="day", tz=tokyo, now=NOW, viewer=None)
    assert cal.start == datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    opened = cal.lanes[0].bars
    assert [(b.label, b.x) for b in opened] == [
        ("Open for sale 00:00–02:00", 0.0),  # Sunday's window, still open at Tokyo's midnight
        ("Open for sale 18:00–00:00", 75.0),
    ]


def test_an_owner_sees_handles_states_rounds_and_preemption_notice(owner, offer, renter):
    other = factories.renter()
    first = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 3600))
    services.booking_preempt(actor=owner, booking=first, notice_seconds=600, reason="maintenance")
    second = services.booking_request(actor=other, slice_id=factories.slice_id(offer, T10 + timedelta(hours=2), 1800))
    auction = factories.auction_offering(owner, closes=600)
    services.booking_request(actor=renter, slice_id=factories.slice_id(auction, T10, 600), bid="0.50")

    cal = calendar.owner_calendar(offering=offer, day=TODAY, span="day", tz=UTC_ZONE, now=NOW)
    first.refresh_from_db()
    bookings = [(lane.name, b.kind, b.label) for lane in cal.lanes for b in lane.bars if b.kind != "open"]
    assert bookings[0][:2] == ("Bookings 1", "booking")
    assert bookings[0][2].startswith(
        f"Booking {first.pk} by {renter.handle}: Small, {first.get_state_display().lower()}"
    )
    assert (f"Booking {second.pk} by {other.handle}: Small, confirmed, 12:00–12:30") in [b[2] for b in bookings]
    assert renter.email not in str(bookings) and other.email not in str(bookings)
    assert first.state == "notice"  # a future booking given notice: it ends at the deadline, unstarted
    assert ("Bookings 1", "notice", f"Preemption notice on booking {first.pk}: given 08:00, ends it 08:10") in bookings
    drawn = next(b for lane in cal.lanes for b in lane.bars if b.kind == "notice")
    assert drawn.x == pytest.approx(33.333, abs=0.01) and drawn.width == 0.694  # the clock ticks in tests
    placed = next(b for lane in cal.lanes for b in lane.bars if b.label.startswith(f"Booking {second.pk}"))
    assert (placed.x, placed.width) == (50.0, 2.083)

    rounds = calendar.owner_calendar(offering=auction, day=TODAY, span="day", tz=UTC_ZONE, now=NOW)
    lane = next(lane for lane in rounds.lanes if lane.name == "Auction rounds")
    assert len(lane.bars) == 1 and lane.bars[0].kind == "round" and lane.bars[0].state == "open"
    assert "Small: open, 1 bid(s), slice 10:00–10:10, bidding closes 09:50" in lane.bars[0].label
    assert (lane.bars[0].x, lane.bars[0].width) == (41.667, 0.694)


def test_the_renter_page_shows_no_identities_and_links_free_spots_to_the_slice_search(offer, renter):
    other = factories.renter()
    theirs = services.booking_request(actor=other, slice_id=factories.slice_id(offer, T10, 3600))
    mine = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=3), 600))
    page = login(renter).get(f"/offerings/{offer.pk}/calendar?date=2026-11-30")
    assert page.status_code == 200
    html = page.content.decode()
    assert other.handle not in html and other.email not in html and f"booking {theirs.pk}" not in html.lower()
    assert f"Your booking {mine.pk}: Small" in html  # one's own booking, by its number
    assert "Small: taken (no room for this profile) 10:00–11:00" in html
    assert "Times in <strong>UTC</strong>, the offering's own zone too" in html
    link = re.search(r'data-testid="free-spot"[^>]*href="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert (
        link
        == f"/market/slices/?offering={offer.pk}&profile={offer.pricing_policies.get().profile_id}&start=2026-11-30T09:00:00&ordering=start"
    )
    search = login(renter).get(link)
    assert search.status_code == 200
    assert 'name="start" value="2026-11-30T09:00:00"' in search.content.decode()
    assert search.context["slices"][0].starts_at == T10 - timedelta(hours=1)  # the first slice is the one picked


def test_the_owner_page_is_the_owners_alone(owner, offer, renter, other_owner):
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 3600))
    page = login(owner).get(f"/owner/offerings/{offer.pk}/calendar?date=2026-11-30&span=week")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Booking {booking.pk} by {renter.handle}: Small, confirmed, Mon 30 10:00–Mon 30 11:00" in html
    assert renter.email not in html
    assert (
        f'href="/owner/offerings/{offer.pk}/calendar"'
        in login(owner).get(f"/owner/offerings/{offer.pk}/").content.decode()
    )
    assert login(other_owner).get(f"/owner/offerings/{offer.pk}/calendar").status_code == 404
    assert login(renter).get(f"/owner/offerings/{offer.pk}/calendar").status_code == 403
    draft = factories.offering(owner)
    assert login(renter).get(f"/offerings/{draft.pk}/calendar").status_code == 404  # not published
    assert login(owner).get(f"/owner/offerings/{draft.pk}/calendar").status_code == 200


@pytest.mark.parametrize(
    "query", ["date=2026-13-01", "date=0001-01-01", "date=9999-12-31", "span=month", "date=yesterday"]
)
def test_a_bad_range_is_a_form_error(offer, renter, query):  # type: ignore[no-untyped-def]
    page = login(renter).get(f"/offerings/{offer.pk}/calendar?{query}")
    assert page.status_code == 400
    assert 'class="errorlist"' in page.content.decode() and page.context.get("cal") is None


def _feed_url(client):  # type: ignore[no-untyped-def]
    page = client.post("/account/calendar-feed/")
    assert page.status_code == 200
    return page.context["urls"]


def test_the_ical_feed_lists_the_renters_bookings_and_parses_back(offer, renter):
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 3600))
    other = services.booking_request(
        actor=factories.renter(), slice_id=factories.slice_id(offer, T10 + timedelta(hours=2), 600)
    )
    client = login(renter)
    urls = _feed_url(client)
    assert "offerings" not in urls  # a renter owns no offerings
    answer = client.get(urls["bookings"].removeprefix("http://testserver"))
    assert answer.status_code == 200 and answer["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"\r\n" in answer.content
    cal = icalendar.Calendar.from_ical(answer.content)
    events = cal.walk("VEVENT")
    assert len(events) == 1  # not the other renter's
    event = events[0]
    assert str(event["UID"]) == f"booking-{booking.pk}@localhost"
    assert event.decoded("DTSTART") == T10 and event.decoded("DTEND") == T10 + timedelta(hours=1)
    assert str(event["SUMMARY"]) == f"{offer.name}: Small"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["DESCRIPTION"]).startswith(f"Booking {booking.pk} is confirmed.")
    assert str(event["URL"]).endswith(f"/market/bookings/#booking-{booking.pk}")
    assert f"booking-{other.pk}@" not in answer.content.decode()
    # The UID is stable: released, the same event is cancelled-in-place, not duplicated.
    services.booking_release(actor=renter, booking_id=booking.pk)
    again = icalendar.Calendar.from_ical(client.get(urls["bookings"].removeprefix("http://testserver")).content)
    assert [str(e["UID"]) for e in again.walk("VEVENT")] == [f"booking-{booking.pk}@localhost"]


def test_rotating_the_feed_kills_the_old_url_and_is_audited(renter):
    client = login(renter)
    first = _feed_url(client)["bookings"].removeprefix("http://testserver")
    assert client.get("/account/calendar-feed/").context["urls"] == {}  # shown once only
    second = _feed_url(client)["bookings"].removeprefix("http://testserver")
    assert first != second
    from django.test import Client

    anonymous = Client()  # a calendar app: no session
    assert anonymous.get(first).status_code == 404
    assert anonymous.get(second).status_code == 200
    assert anonymous.get("/feeds/cal_not-a-token/bookings.ics").status_code == 404
    token = second.split("/")[2]
    assert BookingFeed.objects.get(user=renter).token_hash != token  # only its hash is kept
    verbs = list(
        DomainEvent.objects.filter(actor=renter, verb__startswith="booking_feed.").values_list("verb", flat=True)
    )
    assert sorted(verbs) == ["booking_feed.created", "booking_feed.rotated"]


def test_an_owners_feed_names_renters_by_handle_only(owner, offer, renter):
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 3600))
    urls = _feed_url(login(owner))
    body = login(owner).get(urls["offerings"].removeprefix("http://testserver")).content
    event = icalendar.Calendar.from_ical(body).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == f"{offer.name}: Small for {renter.handle}"
    assert renter.email.encode() not in body
    assert f"/owner/offerings/{offer.pk}/calendar?date=2026-11-30" in str(event["URL"])
    assert booking.pk and login(renter).get(urls["offerings"].removeprefix("http://testserver")).status_code == 200
    # A renter's token does not open an owner's feed.
    renter_urls = _feed_url(login(renter))
    token = renter_urls["bookings"].split("/")[4]
    assert login(renter).get(f"/feeds/{token}/offerings.ics").status_code == 404


def test_long_lines_are_folded_at_75_octets():
    from scheduling.ical import escape, fold

    line = "SUMMARY:" + escape("Ünïcödé, offering; name\n" * 6)
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
    assert "\\," in line and "\\;" in line and "\\n" in line


def test_an_owners_crowded_range_draws_a_bounded_number_of_bookings(owner, offer, renter, monkeypatch):
    monkeypatch.setattr(calendar, "BOOKINGS_SHOWN", 1)
    for hour in (10, 12):
        services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10.replace(hour=hour), 600))
    cal = calendar.owner_calendar(offering=offer, day=TODAY, span="day", tz=UTC_ZONE, now=NOW)
    assert [b.starts_at.hour for _, b in cal.bars if b.kind == "booking"] == [10] and cal.more == 1
    page = login(owner).get(f"/owner/offerings/{offer.pk}/calendar?date=2026-11-30")
    assert "Not drawn: 1 more booking in this range" in page.content.decode()
