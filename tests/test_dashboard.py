"""The landing page's dashboards: a renter's running and upcoming bookings and spend, an owner's revenue,
utilisation and bookings starting soon, each from the selectors the other pages use; nobody sees
another's figures. And the selectors written for them, on exact numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from billing import integration
from marketplace.lib import clock
from notifications.models import Notification
from renters import services as renter_services
from scheduling import hooks
from scheduling import selectors as market
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
MIN = timedelta(minutes=1)


_on_commit: list = []  # the test's django_capture_on_commit_callbacks: billing's holds and charges run on commit


@pytest.fixture(autouse=True)
def _billing_only(settings, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """The engine with billing's receivers (holds, charges) and no provisioning launches."""
    settings.BILLING_MODE = "prepaid"
    settings.PLATFORM_FEE_PERCENT = "10"
    _on_commit[:] = [django_capture_on_commit_callbacks]
    with hooks.isolated():
        integration.register_with_engine()
        yield


def committed():  # type: ignore[no-untyped-def]
    return _on_commit[0](execute=True)


def one_small(owner, **kwargs):  # type: ignore[no-untyped-def]
    """Room for one Small at a time (its 250 Mbit/s of 250), 1.00 USD per one-minute grid unit."""
    kwargs = {"bandwidth_mbps": 250} | kwargs
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100}, **kwargs)


def book(renter, offer, start, length=600, at=T10 - timedelta(hours=1)):  # type: ignore[no-untyped-def]
    with time_machine.travel(at, tick=False), committed():
        return engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, length))


def run(booking):  # type: ignore[no-untyped-def]
    with time_machine.travel(booking.starts_at, tick=False), committed():
        engine.booking_transition(actor=None, booking=Booking.objects.get(pk=booking.pk), to="running")


def release(renter, booking, at):  # type: ignore[no-untyped-def]
    with time_machine.travel(at, tick=False), committed():
        engine.booking_release(actor=renter, booking_id=booking.pk)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


# ---- selectors -------------------------------------------------------------------------------------


def test_today_is_the_viewers_day():
    with timezone.override("Asia/Tokyo"):  # UTC+9: 20:00 UTC on Dec 1 is Dec 2 there
        assert clock.today_bounds(datetime(2026, 12, 1, 20, 0, tzinfo=UTC)) == (
            datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
        )
    with timezone.override("Europe/Berlin"):  # the day daylight saving ends has 25 hours
        start, end = clock.today_bounds(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
        assert (start, end - start) == (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), timedelta(hours=25))


def test_bookings_starting_soon_are_the_owners_confirmed_ones_in_the_window(owner, other_owner, renter):
    mine, theirs = one_small(owner), one_small(other_owner)
    factories.fund_renter(renter, 10_000)
    soon = book(renter, mine, T10 + 60 * MIN)
    book(renter, mine, T10 + timedelta(hours=30))  # beyond the next day
    book(renter, theirs, T10 + 60 * MIN)
    found = market.bookings_starting_soon_for_owner(owner, T10, timedelta(hours=24))
    assert [b.pk for b in found] == [soon.pk]


# ---- the pages -------------------------------------------------------------------------------------


@pytest.fixture
def market_day(owner, other_owner, renter):  # type: ignore[no-untyped-def]
    """December 1st: the renter's 10:00 slice released at 10:02:30 (2.50 USD paid), a second one
    running since 10:30, a third at 13:00; a 100.00 USD monthly limit. The other owner sells too."""
    offer = one_small(owner, name="Rack A")
    theirs = one_small(other_owner, name="Their rack")
    factories.fund_renter(renter, 10_000)
    with time_machine.travel(T10 - timedelta(hours=1), tick=False):
        renter_services.renter_settings_update(actor=renter, spend_limit=10000, currency="USD")
    first = book(renter, offer, T10)
    running = book(renter, offer, T10 + 30 * MIN, 3600)
    later = book(renter, offer, T10 + 3 * 60 * MIN)
    release(renter, first, T10 + timedelta(seconds=150))
    run(running)

    other = factories.renter()
    factories.fund_renter(other, 10_000)
    theirs_booking = book(other, theirs, T10)
    release(other, theirs_booking, T10 + timedelta(seconds=300))
    return {"offer": offer, "running": running, "later": later, "theirs": theirs}


def test_renter_sees_running_and_upcoming_bookings_and_spend_against_the_limit(market_day, renter):
    Notification.objects.create(user=renter, kind="server_ready", title="Server ready", link="/market/bookings/")
    with time_machine.travel(T10 + 45 * MIN, tick=False):
        page = text(login(renter).get("/"))
    running, later = market_day["running"], market_day["later"]
    assert f'<a href="/bookings/{running.pk}/server/">#{running.pk} Rack A · Small</a>' in page
    assert f'href="/market/bookings/#booking-{later.pk}">#{later.pk} Rack A · Small' in page
    # Spent: 2.50 paid + 60.00 held for the running hour + 10.00 for the later slice: the funds
    # check's own figure (billing.services.renter_month_spend).
    assert 'data-testid="month-spend">72.50 USD</p>' in page
    assert "of your 100.00 USD monthly limit" in page
    assert '<meter id="spend-meter" min="0" max="10000" value="7250">' in page
    assert "Server ready" in page and "All notifications (1 unread)" in page
    assert 'data-testid="dashboard-owner"' not in page and "Revenue today" not in page


def test_owner_sees_todays_revenue_per_currency_and_never_another_owners(market_day, owner, other_owner):
    with time_machine.travel(T10 + 45 * MIN, tick=False):
        page = text(login(owner).get("/"))
        theirs = text(login(other_owner).get("/"))
    # 2.50 paid by the renter for 150 s: 0.25 fee, 2.25 the owner's.
    assert (
        '<tr data-testid="revenue-USD"><td>USD</td><td class="num">2.50 USD</td><td class="num">0.25 USD</td>'
        '<td class="num"><strong>2.25 USD</strong></td></tr>'
    ) in page
    assert "Rack A" in page and "Their rack" not in page
    # The other owner's 5.00 (300 s) is theirs alone.
    assert '<td class="num"><strong>4.50 USD</strong></td>' in theirs
    assert "2.25 USD" not in theirs and "Rack A" not in theirs
    assert "Your bookings" not in page  # an owner who does not rent has no renter panels


def test_owner_sees_bookings_starting_soon_by_handle_and_utilisation(market_day, owner, renter):
    with time_machine.travel(T10 + 45 * MIN, tick=False):
        page = text(login(owner).get("/"))
    later = market_day["later"]
    assert f"<td>{later.starts_at:%Y-%m-%d %H:%M}</td><td>Rack A · Small</td><td>{renter.handle}</td>" in page
    assert renter.email not in page
    # Today so far (00:00-10:45 UTC, 38,700 s of a 16-vCPU offering), by the utilisation chart's own
    # definition: the released slice held 1 vCPU for 150 s, the running one 1 vCPU for 900 s, the
    # later one has not begun: 1,050 / (16 × 38,700) = 0.17 %; no standby servers.
    row = re.search(rf'data-testid="utilisation-{market_day["offer"].pk}">(.*?)</tr>', page).group(1)
    assert '<td class="num">0.2 %</td> <td class="num">0.0 %</td>' in row
    assert f'href="/owner/offerings/{market_day["offer"].pk}/utilisation"' in row


def test_visitors_get_the_public_landing(client):
    page = text(client.get("/"))
    assert "Short-term cloud compute, by the slice" in page and "Your dashboard" not in page


def test_a_user_with_nothing_yet_is_told_the_next_step(renter):
    page = text(login(renter).get("/"))
    assert 'Nothing running or booked. <a href="/market/slices/">Find a slice</a>' in page
    assert "You are up to date." in page


def test_the_navigation_marks_the_section_the_user_is_in(renter):
    client = login(renter)
    bookings = text(client.get("/market/bookings/"))
    assert '<a href="/market/bookings/" aria-current="page">My bookings</a>' in bookings
    assert bookings.count('aria-current="page"') == 1
    settings_page = text(client.get("/account/settings/"))
    assert '<a href="/account/settings/" aria-current="page">Spend limit</a>' in settings_page
    assert '<summary aria-current="true">' in settings_page
