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


def test_racing_prices_in_two_currencies_leave_one_currency(owner, monkeypatch):
    offer = factories.offering(owner)
    profiles = [SliceProfile.objects.get(owner=None, name=n) for n in ("Micro", "Small")]
    barrier = threading.Barrier(2)
    seen = PricingPolicy.other_currency

    def other_currency_then_wait(self: PricingPolicy) -> str | None:
        found = seen(self)  # both see no other price yet, so clean() lets both through
        barrier.wait(10)
        return found

    monkeypatch.setattr(PricingPolicy, "other_currency", other_currency_then_wait)
    results: list = [None, None]

    def worker(i: int, currency: str) -> None:
        try:
            results[i] = factories.price(owner, offer, profile=profiles[i], currency=currency, price_per_unit=5)
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(("EUR", "USD"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(refused) == 1, results
    assert refused[0].errors == {"currency": ["All the prices of one offering are in one currency."]}
    assert PricingPolicy.objects.filter(offering=offer).values_list("currency", flat=True).distinct().count() == 1
