"""Issue 12, point 1: a renter's money per currency, the same figures on the page, in the API and in the
ledger; the default and top-up currency follow what the renter buys (point 5: the top-up maximum)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing import ledger, selectors
from billing.models import Payment
from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from scheduling import services as engine
from tests import factories
from tests.billing.conftest import add_card
from tests.conftest import login

K = ledger.Kind


def _start() -> object:
    now = clock.now()
    return now.replace(second=0, microsecond=0) + timedelta(hours=2)


def _eur_offering(owner):  # type: ignore[no-untyped-def]
    # 1.00 EUR per minute of grid: a 10-minute slice costs 10.00 EUR.
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "currency": "EUR", "price_per_unit": 100})


def _row(html: str, currency: str) -> str:
    start = html.index(f'data-testid="balance-{currency}"')
    return html[start : html.index("</tr>", start)]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_top_up_in_eur_book_in_eur_and_read_the_same_figures_everywhere(stripe_server, renter, owner):
    offer = _eur_offering(owner)
    client = login(renter)
    page = client.get("/billing/").content.decode()
    # A EUR market: the top-up form defaults to EUR, and the balance is shown in EUR (not 0.00 USD).
    assert '<option value="EUR" selected>EUR</option>' in page
    assert "0.00 EUR" in _row(page, "EUR") and "USD" not in page.split('data-testid="topup-form"')[0]
    add_card(renter)
    done = client.post("/billing/topup", {"amount": "25.00", "currency": "EUR"}, follow=True).content.decode()
    assert "25.00 EUR added to your balance." in done
    assert "25.00 EUR" in _row(done, "EUR")

    engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, _start(), 600))

    assert ledger.balance_of(K.RENTER_BALANCE, "EUR", renter) == 1500
    assert ledger.balance_of(K.RENTER_HOLDS, "EUR", renter) == 1000
    row = _row(client.get("/billing/").content.decode(), "EUR")
    assert '<strong data-testid="available">15.00 EUR</strong>' in row and "10.00 EUR" in row
    api = client.get("/api/v1/billing/balance").json()
    assert (api["currency"], api["available"], api["held"]) == ("EUR", 1500, 1000)
    assert api["balances"] == [
        {
            "currency": "EUR",
            "available": 1500,
            "held": 1000,
            "available_display": "15.00 EUR",
            "held_display": "10.00 EUR",
        }
    ]
    # The funds check spends the same figure: a 20.00 EUR slice is refused with the balance the page shows.
    with pytest.raises(DomainError) as refused:
        engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, _start() + timedelta(hours=1), 1200))
    assert "Your balance is 15.00 EUR; this booking needs 20.00 EUR." in refused.value.message


@pytest.mark.django_db
def test_every_currency_held_is_shown_on_the_page_in_the_api_and_in_the_statement(renter, owner):
    _eur_offering(owner)
    factories.fund_renter(renter, 5000, "EUR")  # the demo renter's 50.00 EUR credit
    factories.fund_renter(renter, 700, "USD")
    client = login(renter)
    page = client.get("/billing/").content.decode()
    assert "50.00 EUR" in _row(page, "EUR") and "7.00 USD" in _row(page, "USD")
    assert page.index('data-testid="balance-EUR"') < page.index('data-testid="balance-USD"')  # the default first
    api = client.get("/api/v1/billing/balance").json()
    assert (api["currency"], api["available"]) == ("EUR", 5000)
    assert [(b["currency"], b["available"], b["held"]) for b in api["balances"]] == [("EUR", 5000, 0), ("USD", 700, 0)]
    assert api["topup_currencies"] == ["EUR", "USD"]
    today = clock.now().date()
    statement = client.get("/billing/statement", {"year": today.year, "month": today.month}).content.decode()
    eur = statement[statement.index('data-testid="statement-EUR"') :]
    assert "<td>50.00 EUR</td><td>50.00 EUR</td><td>0.00 EUR</td>" in eur
    assert 'data-testid="statement-USD"><td>USD</td><td>7.00 USD</td><td>7.00 USD</td>' in statement


@pytest.mark.django_db
def test_default_currency_follows_the_market_then_the_balance_then_the_bookings(renter, owner, other_owner):
    assert selectors.renter_default_currency(renter) == "USD"  # nothing sold, nothing held: BILLING_CURRENCY
    _eur_offering(owner)
    factories.offering(other_owner, publish=True, pricing={"model": "fixed", "currency": "GBP", "price_per_unit": 5})
    _eur_offering(other_owner)
    assert selectors.market_currencies() == ["EUR", "GBP"]
    assert selectors.renter_default_currency(renter) == "EUR"  # the market's most common
    factories.fund_renter(renter, 900, "GBP")
    assert selectors.renter_default_currency(renter) == "GBP"  # what they hold
    assert selectors.topup_currencies(renter) == ["GBP", "EUR"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_top_up_above_the_maximum_or_in_a_currency_not_sold_is_refused_and_keeps_what_was_typed(
    stripe_server, renter, owner, settings
):
    settings.BILLING_TOPUP_MAX = {"*": "10000", "JPY": "1500000"}
    _eur_offering(owner)
    add_card(renter)
    client = login(renter)
    page = client.post("/billing/topup", {"amount": "100000000", "currency": "EUR"})
    html = page.content.decode()
    assert page.status_code == 200 and "The largest top-up is 10000.00 EUR." in html
    assert 'value="100000000"' in html  # the form keeps what was typed
    other = client.post("/billing/topup", {"amount": "20", "currency": "SEK"}).content.decode()
    assert "Select a valid choice. SEK is not one of the available choices." in other
    api = client.post(
        "/api/v1/billing/topups", {"amount": 10_000_01, "currency": "EUR"}, content_type="application/json"
    )
    assert api.status_code == 400 and api.json()["fields"]["amount"] == ["The largest top-up is 10000.00 EUR."]
    sek = client.post("/api/v1/billing/topups", {"amount": 2000, "currency": "SEK"}, content_type="application/json")
    assert sek.status_code == 400 and sek.json()["fields"]["currency"] == [
        "Top up in a currency this market sells in: EUR."
    ]
    assert Payment.objects.count() == 0 and ledger.balance_of(K.RENTER_BALANCE, "EUR", renter) == 0


def test_operator_maximum_reads_one_number_or_per_currency() -> None:
    from billing.services import operator_maximum

    assert operator_maximum("10000", "EUR") == 1_000_000
    assert operator_maximum({"*": "10000", "JPY": "1500000"}, "JPY") == 1_500_000
    assert operator_maximum({"EUR": "50"}, "USD") is None
    assert operator_maximum(None, "USD") is None
