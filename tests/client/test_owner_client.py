"""The Python client's owner methods against a live server: an owner builds, prices and publishes an
offering, sees a renter's booking on it (by handle), preempts it with notice (the deadline comes back and
the renter is told), reads revenue; another owner's objects are NotFound, a renter's token Forbidden,
bad input a BadRequest naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slicemarket import BadRequest, Client, Conflict, Forbidden, NotFound
from slicemarket.types import Offering, Preemption

from accounts.services import api_token_create
from notifications.models import Notification
from owners.models import Offering as OfferingRow
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _client(url: str, user: object, scopes: list[str] | None = None) -> Client:
    _, token = api_token_create(actor=user, name="owner client tests", scopes=scopes)  # type: ignore[arg-type]
    return Client(url, token=token, timeout=10, retries=1)


def test_an_owner_builds_prices_publishes_and_preempts_through_the_client(live_server):  # type: ignore[no-untyped-def]
    owner = factories.owner()
    cloud = factories.cloud(owner)
    c = _client(live_server.url, owner, ["owner"])

    assert [x.id for x in c.clouds()] == [cloud.pk]
    offer = c.create_offering(
        cloud=cloud.pk,
        name="Rack C",
        vcpus=8,
        ram_mib=16384,
        disk_gb=200,
        bandwidth_mbps=1000,
        grid_seconds=60,
        min_length_seconds=60,
        max_length_seconds=3600,
        allowed_images=["ubuntu-24.04"],
    )
    assert isinstance(offer, Offering) and (offer.status, offer.transitions) == ("draft", ["published", "retired"])
    with pytest.raises(BadRequest) as bad:
        c.update_offering(offer.id, grid_seconds=3)
    assert "grid_seconds" in bad.value.fields
    assert c.update_offering(offer.id, description="two racks").description == "two racks"

    small = next(p for p in c.profiles() if p.name == "Small")
    price = c.set_price(offer.id, small.id, model="fixed", price_per_unit="1.00")
    assert (price.price_per_unit, price.currency) == ("1.00", "USD")
    assert [p.profile_name for p in c.prices(offer.id)] == ["Small"]
    window = c.add_window(offer.id, weekdays=list(range(7)), start_time="00:00", end_time="23:59")
    assert [w.id for w in c.windows(offer.id)] == [window.id]
    c.remove_window(offer.id, window.id)  # sold at all hours again: the booking below may fall at any time
    assert c.windows(offer.id) == []
    assert c.set_offering_status(offer.id, "published").status == "published"
    with pytest.raises(Conflict):
        c.set_offering_status(offer.id, "draft")
    assert [o.id for o in c.offerings(status="published")] == [offer.id]

    # A renter books a slice; the owner sees it by handle and preempts it with notice.
    renter = factories.renter()
    factories.fund_renter(renter, 100_000)
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(_row(offer.id), start, 600))
    [seen] = list(c.owner_bookings(offering=offer.id))
    assert (seen.id, seen.renter, seen.state) == (booking.pk, renter.handle, "confirmed")
    assert renter.email not in str(seen.raw)

    preview = c.preempt(booking.pk, notice_seconds=60, preview=True)
    assert isinstance(preview, Preemption) and preview.preview and preview.count == 1
    assert Booking.objects.get(pk=booking.pk).state == "confirmed"
    done = c.preempt(booking.pk, notice_seconds=60, reason="Firmware update.")
    [notice] = done.notices or []
    assert (done.preview, notice["state"], notice["notice_seconds"]) == (False, "notice", 60)
    deadline = datetime.fromisoformat(notice["deadline"].replace("Z", "+00:00"))
    assert Booking.objects.get(pk=booking.pk).preempt_deadline == deadline
    told = Notification.objects.get(user=renter, kind="preemption_notice")
    assert f"{deadline:%Y-%m-%d %H:%M:%S} UTC" in told.body
    assert c.owner_booking(booking.pk).preempt_deadline == notice["deadline"]
    with pytest.raises(Conflict):
        c.preempt(booking.pk)
    with pytest.raises(BadRequest) as too_long:
        c.preempt_offering(offer.id, notice_seconds=10**7)
    assert "notice_seconds" in too_long.value.fields

    revenue = c.revenue(start=datetime.now(UTC).date() - timedelta(days=1), end=datetime.now(UTC).date())
    assert revenue.totals == [] and revenue.from_ == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    with pytest.raises(BadRequest):
        c.revenue(start="2026-12-05", end="2026-12-01")

    # Someone else's: NotFound for another owner, Forbidden for a renter's token with every scope.
    other = _client(live_server.url, factories.owner())
    with pytest.raises(NotFound):
        other.offering(offer.id)
    with pytest.raises(NotFound):
        other.preempt(booking.pk, notice_seconds=0)
    with pytest.raises(Forbidden):
        list(_client(live_server.url, renter).offerings())


def _row(pk: int) -> OfferingRow:
    return OfferingRow.objects.get(pk=pk)
