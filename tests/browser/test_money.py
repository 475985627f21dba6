"""Real Chromium through the money pages (issue 12): a renter tops up in EUR and sees every currency's
balance; an owner sets up payouts at the Connect stand-in, comes back enabled, and is paid out."""

from __future__ import annotations

import pytest

from billing import ledger
from tests import factories
from tests.billing.conftest import add_card
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_renter_tops_up_in_eur_and_sees_each_currency(page, stripe_server):
    owner, renter = factories.owner(), factories.renter()
    factories.offering(owner, publish=True, pricing={"model": "fixed", "currency": "EUR", "price_per_unit": 2})
    factories.fund_renter(renter, 5000, "EUR")  # the demo renter's credit
    factories.fund_renter(renter, 300, "USD")
    add_card(renter)
    log_in(page, renter.email)
    page.goto("/billing/")
    assert page.locator("[data-testid=balance-EUR]").inner_text().split("\t")[1:] == ["50.00 EUR", "0.00 EUR"]
    assert "3.00 USD" in page.locator("[data-testid=balance-USD]").inner_text()
    assert page.locator("select[name=currency]").input_value() == "EUR"
    page.fill("input[name=amount]", "10")
    page.click("[data-testid=topup-form] button[type=submit]")
    page.wait_for_selector("text=10.00 EUR added to your balance.")
    assert page.locator("[data-testid=available]").inner_text() == "60.00 EUR"
    page.fill("input[name=amount]", "100000000")
    page.click("[data-testid=topup-form] button[type=submit]")
    page.wait_for_selector("text=The largest top-up is 10000.00 EUR.")
    assert page.locator("input[name=amount]").input_value() == "100000000"
    assert ledger.balance_of(ledger.Kind.RENTER_BALANCE, "EUR", renter) == 6000


def test_owner_sets_up_payouts_at_the_stand_in_and_is_paid_out(page, stripe_server, live_server):
    owner, staff = factories.owner(), factories.UserFactory(is_staff=True, is_superuser=True)
    from billing import services

    services.adjustment_post(
        actor=staff,
        user=owner,
        account_kind="owner_payable",
        amount=2500,
        currency="EUR",
        reason="earnings",
        idempotency_key="earned",
    )
    log_in(page, owner.email)
    page.goto("/billing/owner/")
    page.click("text=Set up payouts with Stripe")
    page.wait_for_url(f"{stripe_server.url}/_config/connect/onboarding/**")
    assert "Development stand-in for Stripe Connect" in page.content()
    page.click("text=Agree and continue")
    page.wait_for_url(f"{live_server.url}/billing/owner/")
    page.wait_for_selector("text=Payouts are enabled.")
    page.click("text=Pay out now")
    page.wait_for_selector("text=Payout of 25.00 EUR: Paid.")
    assert ledger.balance_of(ledger.Kind.OWNER_PAYABLE, "EUR", owner) == 0
