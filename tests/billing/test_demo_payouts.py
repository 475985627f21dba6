"""Issue 12, point 8: in development, Connect onboarding goes to the local stand-in and comes back
enabled, so a demo owner sees a payout end to end (seed_demo's owners, the gateway, the stand-in)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command

from accounts.models import User
from billing import ledger
from billing.models import ConnectedAccount, Payout
from tests.conftest import login

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_demo_owner_onboards_at_the_stand_in_and_is_paid_out(stripe_server, settings):
    settings.DEBUG = True  # seed_demo runs only in development, as `make run` has it
    call_command("seed_demo")
    alice = User.objects.get(email="alice@demo.local")
    client = login(alice)
    page = client.get("/billing/owner/").content.decode()
    assert 'data-testid="payable-EUR">25.00 EUR</strong>' in page and "Set up payouts with Stripe" in page

    started = client.post("/billing/owner/connect")
    assert started.status_code == 302
    link = started["Location"]
    assert link.startswith(f"{stripe_server.url}/_config/connect/onboarding/acct_")  # local, not connect.stripe.com
    onboarding = requests.get(link, timeout=5)
    assert onboarding.status_code == 200 and "Development stand-in for Stripe Connect" in onboarding.text
    back = requests.post(link, allow_redirects=False, timeout=5)
    assert back.status_code == 303 and back.headers["Location"] == "http://testserver/billing/owner/connect/return"

    landed = client.get(urlsplit(back.headers["Location"]).path, follow=True)
    assert landed.redirect_chain[-1][0] == "/billing/owner/"
    html = landed.content.decode()
    account = ConnectedAccount.objects.get(user=alice)
    assert "Payouts are enabled." in html and f"<code>{account.stripe_account_id}</code>: payouts enabled." in html
    assert account.payouts_enabled
    assert requests.get(link, timeout=5).status_code == 404  # a link is used once

    paid = client.post("/billing/owner/payouts", {"currency": "EUR"}, follow=True).content.decode()
    assert "Payout of 25.00 EUR: Paid." in paid
    payout = Payout.objects.get(owner=alice)
    assert (payout.status, payout.amount, payout.currency) == ("paid", 2500, "EUR")
    transfer = requests.get(
        f"{stripe_server.url}/v1/transfers/{payout.stripe_transfer_id}", auth=("sk_test_billing", ""), timeout=5
    ).json()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        2500,
        "eur",
        account.stripe_account_id,
    )
    assert ledger.balance_of(ledger.Kind.OWNER_PAYABLE, "EUR", alice) == 0
