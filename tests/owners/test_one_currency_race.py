"""Two prices in two currencies added to one offering at the same moment: the database keeps one
currency (owners_pricingpolicy_one_currency), and the loser is told why on the currency field."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from marketplace.lib.errors import ValidationFailed
from owners.models import PricingPolicy, SliceProfile
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_racing_prices_in_two_currencies_leave_one_currency(owner):
    """Four owners' sessions price four profiles of one offering at once, two in EUR and two in
    USD: one currency is kept, every loser is told why on the currency field (no deadlock, no
    500), and no price is half-written."""
    offer = factories.offering(owner)
    names = ("Micro", "Small", "Medium", "Large")
    profiles = [SliceProfile.objects.get(owner=None, name=n) for n in names]
    currencies = ("EUR", "USD", "EUR", "USD")
    barrier = threading.Barrier(len(names))
    results: list = [None] * len(names)

    def worker(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = factories.price(owner, offer, profile=profiles[i], currency=currencies[i], price_per_unit=5)
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    kept = {r.currency for r in results if isinstance(r, PricingPolicy)}
    assert len(kept) == 1, results
    refused = [r for r in results if not isinstance(r, PricingPolicy)]
    assert len(refused) == 2, results  # the two in the other currency
    for r in refused:
        assert isinstance(r, ValidationFailed), results
        assert list(r.errors) == ["currency"], r.errors
    stored = PricingPolicy.objects.filter(offering=offer)
    assert set(stored.values_list("currency", flat=True)) == kept
    assert stored.count() == 2


def test_a_price_in_another_currency_that_landed_after_clean_is_refused_on_the_currency_field(owner, monkeypatch):
    """The other thread's price committed between clean() and the constraint check: the
    constraint check (not the database) refuses it, and says so on the same field."""
    offer = factories.offering(owner)
    small = SliceProfile.objects.get(owner=None, name="Small")
    factories.price(owner, offer, profile="Micro", currency="EUR", price_per_unit=5)
    monkeypatch.setattr(PricingPolicy, "other_currency", lambda self: None)  # clean() saw nothing
    with pytest.raises(ValidationFailed) as refused:
        factories.price(owner, offer, profile=small, currency="USD", price_per_unit=5)
    assert refused.value.errors == {"currency": ["All the prices of one offering are in one currency."]}
    assert set(PricingPolicy.objects.filter(offering=offer).values_list("currency", flat=True)) == {"EUR"}
