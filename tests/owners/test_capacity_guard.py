"""An owner cannot shrink an offering below what live bookings hold, through any door.

The rule is the database guard owners_offering_capacity_covers_claims (scheduling/sql/offering_capacity_guard.sql);
offering_update, the owner portal and the admin show its message as a field error, plain SQL meets
it at commit, and a shrink racing a booking for the last capacity cannot both commit.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from audit.models import DomainEvent
from marketplace.lib.errors import ValidationFailed
from owners import services
from owners.models import Offering
from scheduling import hooks
from scheduling import services as market
from scheduling.errors import SliceTaken
from scheduling.models import Booking
from tests import factories
from tests.concurrency.invariant import overbooked_offerings
from tests.conftest import login

# The application's clock runs from tomorrow 00:00 UTC: "future" for the app is future for the
# database's own now() too (plain SQL has no other clock), whatever day the suite runs.
NOW = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
T10 = NOW + timedelta(hours=10)
AT = f"{T10:%Y-%m-%d} 10:05:00 UTC"


@pytest.fixture(autouse=True)
def _market():  # type: ignore[no-untyped-def]
    """A running clock from NOW; the engine alone (no billing funds check, no provisioning)."""
    with time_machine.travel(NOW, tick=True), hooks.isolated():
        yield


def _offering(owner, vcpus: int = 4):  # type: ignore[no-untyped-def]
    """vCPU is the scarce resource: each Small slice takes 1 of ``vcpus``."""
    return factories.offering(
        owner, publish=True, vcpus=vcpus, ram_mib=65536, disk_gb=500, bandwidth_mbps=10000, max_length_seconds=7200
    )


def _book(offer, start: datetime, seconds: int = 600) -> Booking:  # type: ignore[no-untyped-def]
    return market.booking_request(actor=factories.renter(), slice_id=factories.slice_id(offer, start, seconds))


def _three_vcpu_from_1005(offer) -> list[Booking]:  # type: ignore[no-untyped-def]
    """Two Smalls 10:00-10:10 and one 10:05-10:15: 3 vCPU are held first at 10:05."""
    return [_book(offer, T10), _book(offer, T10), _book(offer, T10 + timedelta(minutes=5))]


def _capacity(offer) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    offer.refresh_from_db()
    return offer.vcpus, offer.ram_mib, offer.disk_gb, offer.bandwidth_mbps


@pytest.mark.django_db
def test_shrink_below_future_bookings_is_refused_with_when_and_how_much(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)
    updates = DomainEvent.objects.filter(verb="offering.updated").count()

    with pytest.raises(ValidationFailed) as exc:
        services.offering_update(actor=owner, offering=offer, vcpus=2, name="renamed")

    assert exc.value.errors == {
        "vcpus": [f"Capacity cannot go below what current bookings hold: 3 vCPU booked at {AT}."]
    }
    assert _capacity(offer) == (4, 65536, 500, 10000)
    assert offer.name != "renamed"  # nothing of the edit was kept
    assert DomainEvent.objects.filter(verb="offering.updated").count() == updates


@pytest.mark.django_db
def test_every_resource_over_the_new_capacity_gets_its_own_message(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)  # 3 Smalls: 3 vCPU, 750 Mbit/s

    with pytest.raises(ValidationFailed) as exc:
        services.offering_update(actor=owner, offering=offer, vcpus=2, bandwidth_mbps=700)

    assert exc.value.errors == {
        "vcpus": [f"Capacity cannot go below what current bookings hold: 3 vCPU booked at {AT}."],
        "bandwidth_mbps": [
            f"Capacity cannot go below what current bookings hold: 750 Mbit/s bandwidth booked at {AT}."
        ],
    }
    assert _capacity(offer) == (4, 65536, 500, 10000)


@pytest.mark.django_db
def test_shrink_down_to_exactly_what_is_booked_is_allowed(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)

    services.offering_update(actor=owner, offering=offer, vcpus=3, bandwidth_mbps=750)

    assert _capacity(offer) == (3, 65536, 500, 750)
    with pytest.raises(SliceTaken):  # and the engine sells nothing more at that time
        _book(offer, T10 + timedelta(minutes=5))


@pytest.mark.django_db
def test_a_booking_running_now_counts_from_now(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)

    with time_machine.travel(T10 + timedelta(minutes=7), tick=False), pytest.raises(ValidationFailed) as exc:
        services.offering_update(actor=owner, offering=offer, vcpus=2)

    assert exc.value.errors == {
        "vcpus": [f"Capacity cannot go below what current bookings hold: 3 vCPU booked at {T10:%Y-%m-%d} 10:07:00 UTC."]
    }
    assert _capacity(offer)[0] == 4


@pytest.mark.django_db
def test_shrink_below_only_released_rejected_and_past_bookings_is_allowed(owner):
    offer = _offering(owner)
    renter = factories.renter()
    released = market.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    market.booking_release(actor=renter, booking_id=released.pk)
    past = _book(offer, NOW + timedelta(hours=1))  # 01:00-01:10, still "confirmed": nobody completed it
    full = [_book(offer, T10 + timedelta(hours=1)) for _ in range(4)]
    with pytest.raises(SliceTaken):
        _book(offer, T10 + timedelta(hours=1))  # a rejected request claims nothing either
    for booking in full:
        market.booking_release(actor=booking.renter, booking_id=booking.pk)

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        services.offering_update(actor=owner, offering=offer, vcpus=1)

    assert _capacity(offer)[0] == 1
    past.refresh_from_db()
    assert past.state == "confirmed"
    assert set(Booking.objects.filter(offering=offer).values_list("state", flat=True)) == {
        "released",
        "rejected",
        "confirmed",
    }


@pytest.mark.django_db
def test_growing_or_shrinking_an_unbooked_resource_is_untouched_by_the_guard(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)

    services.offering_update(actor=owner, offering=offer, vcpus=8, disk_gb=60)

    assert _capacity(offer) == (8, 65536, 60, 10000)


# ---- the doors: owner portal and admin --------------------------------------------------------------


class _FormData(HTMLParser):
    """What a browser would post back from the page's own form (method post, posting to the page itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = self._done = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and not a.get("action") and not self._done:
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _post_data(html: str, **changes: str) -> dict[str, list[str]]:
    parser = _FormData()
    parser.feed(html)
    data = {k: v for k, v in parser.data.items() if v}
    data.update({k: [v] for k, v in changes.items()})
    return data


@pytest.mark.django_db
def test_owner_portal_shows_the_refusal_on_the_vcpu_field(owner, owner_client):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)
    url = reverse("owners:offering_edit", args=[offer.pk])

    response = owner_client.post(url, _post_data(owner_client.get(url).content.decode(), vcpus="2"))

    assert response.status_code == 200
    assert response.context["form"].errors["vcpus"] == [
        f"Capacity cannot go below what current bookings hold: 3 vCPU booked at {AT}."
    ]
    assert _capacity(offer)[0] == 4
    # The same page saves a shrink that fits.
    response = owner_client.post(url, _post_data(owner_client.get(url).content.decode(), vcpus="3"))
    assert response.status_code == 302
    assert _capacity(offer)[0] == 3


@pytest.mark.django_db
def test_admin_shows_the_refusal_as_a_form_error_not_a_500(owner, staff):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)
    client = login(staff)
    url = reverse("admin:owners_offering_change", args=[offer.pk])

    response = client.post(url, _post_data(client.get(url).content.decode(), vcpus="2"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["vcpus"] == [
        f"Capacity cannot go below what current bookings hold: 3 vCPU booked at {AT}."
    ]
    assert _capacity(offer)[0] == 4
    response = client.post(url, _post_data(client.get(url).content.decode(), vcpus="3"))
    assert response.status_code == 302
    assert _capacity(offer)[0] == 3


# ---- plain SQL and races: real commits, separate connections ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_plain_sql_shrink_is_refused_by_the_database_at_commit(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)

    with pytest.raises(IntegrityError) as exc, transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE owners_offering SET vcpus = 2 WHERE id = %s", [offer.pk])
        cur.execute("SELECT vcpus FROM owners_offering WHERE id = %s", [offer.pk])
        assert cur.fetchone() == (2,)  # the statement itself passes: the guard is deferred to commit

    assert exc.value.__cause__.diag.constraint_name == "owners_offering_capacity_covers_claims"
    assert f"3 vCPU booked at {AT}" in str(exc.value)
    assert _capacity(offer)[0] == 4


@pytest.mark.django_db(transaction=True)
def test_plain_sql_shrink_then_grow_in_one_transaction_is_judged_on_the_final_row(owner):
    offer = _offering(owner)
    _three_vcpu_from_1005(offer)

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE owners_offering SET vcpus = 1 WHERE id = %s", [offer.pk])
        cur.execute("UPDATE owners_offering SET vcpus = 3 WHERE id = %s", [offer.pk])

    assert _capacity(offer)[0] == 3


def _race(work_a, work_b) -> list:  # type: ignore[no-untyped-def]
    """Run both at once, each on its own thread (and so its own PostgreSQL connection)."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def runner(i: int, work) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            results[i] = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, w)) for i, w in enumerate((work_a, work_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _shrink_by_service(owner, offer):  # type: ignore[no-untyped-def]
    return lambda: services.offering_update(actor=owner, offering=offer, vcpus=3)


def _shrink_by_sql(owner, offer):  # type: ignore[no-untyped-def]
    def work() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("UPDATE owners_offering SET vcpus = 3 WHERE id = %s", [offer.pk])

    return work


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shrink", [_shrink_by_service, _shrink_by_sql], ids=["service", "plain-sql"])
def test_a_shrink_racing_a_booking_for_the_last_capacity_never_both_win(owner, shrink):
    for i in range(8):
        offer = _offering(owner)
        start = T10 + timedelta(hours=i)
        for _ in range(3):
            _book(offer, start)  # 3 of 4 vCPU held; the booking and the shrink both want the 4th
        renter = factories.renter()
        sid = factories.slice_id(offer, start, 600)

        booked, shrunk = _race(
            lambda renter=renter, sid=sid: market.booking_request(actor=renter, slice_id=sid), shrink(owner, offer)
        )

        assert isinstance(booked, (Booking, SliceTaken)), booked
        assert shrunk is None or isinstance(shrunk, (Offering, ValidationFailed, IntegrityError)), shrunk
        booking_won = isinstance(booked, Booking)
        shrink_won = _capacity(offer)[0] == 3
        assert booking_won != shrink_won, (booked, shrunk)
    assert overbooked_offerings() == []
