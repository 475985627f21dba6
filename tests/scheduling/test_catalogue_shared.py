"""Booking and search keep one copy of the catalogue per process (scheduling.catalogue), of one
version: whichever reads a newer version replaces the copy whole, so neither keeps using what the
other found changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from scheduling import catalogue, selectors, services
from tests import factories

pytestmark = pytest.mark.django_db

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def kept() -> catalogue.Catalogue:
    return catalogue._KEPT[connection.settings_dict["NAME"]]


def search(renter) -> list[selectors.Slice]:  # type: ignore[no-untyped-def]
    return selectors.slices_search(user=renter, q=selectors.SearchQuery(start=T10, end=T10 + timedelta(hours=1)))


def test_booking_and_search_share_one_copy_of_one_version(renter, owner):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    catalogue.forget()
    assert {s.unit_price for s in search(renter)} == {25}
    services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 60))
    copy = kept()
    assert copy.search is not None and len(copy.entries) == 1  # both in the one copy
    assert copy.search["fingerprint"] == copy.fingerprint

    factories.price(owner, offer, price_per_unit=30)  # a new version
    booking = services.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(minutes=5), 60))
    assert booking.unit_price == 30
    assert kept() is not copy and kept().search is None  # the old version's search copy went with it
    assert {s.unit_price for s in search(renter)} == {30}
    assert kept().search is not None and len(kept().entries) == 1 and kept().version != copy.version
