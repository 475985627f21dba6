"""Owner payouts through Stripe Connect.

localstripe has no Connect: these run the real gateway module (and stripe-python) against
the contract stub mounted in our localstripe launcher, whose answers are shaped like Stripe's
documented Account, AccountLink and Transfer objects.
"""

from __future__ import annotations

import pytest
import requests

from billing import ledger, services, tasks
from billing.models import ConnectedAccount, Payout
from tests.billing.conftest import assert_ledger_balanced

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
K = ledger.Kind


def earn(owner, amount: int) -> None:  # type: ignore[no-untyped-def]
    """Earnings as a settled charge would leave them (renter side abbreviated to the clearing account)."""
    ledger.post_transaction(
        kind="charge",
        idempotency_key=f"earn-{owner.pk}-{amount}",
        lines=[
            (ledger.account(K.STRIPE_CLEARING, "USD"), amount),
            (ledger.account(K.OWNER_PAYABLE, "USD", owner), -amount),
        ],
    )


def onboard(stripe_server, owner) -> ConnectedAccount:  # type: ignore[no-untyped-def]
    url = services.connect_onboard(actor=owner, refresh_url="http://testserver/r", return_url="http://testserver/r")
    account = ConnectedAccount.objects.get(user=owner)
    # Issue 12: the stand-in's link is its own onboarding page (Stripe's would be connect.stripe.com).
    assert url.startswith(f"{stripe_server.url}/_config/connect/onboarding/" + account.stripe_account_id)
    assert not account.payouts_enabled
    requests.post(f"{stripe_server.url}/_config/contract/accounts/{account.stripe_account_id}/enable", timeout=5)
    return services.connect_refresh(user=owner)


def test_onboarding_creates_one_account_and_tracks_its_status(stripe_server, owner):
    account = onboard(stripe_server, owner)
    assert (account.details_submitted, account.payouts_enabled) == (True, True)
    services.connect_onboard(actor=owner, refresh_url="http://t/r", return_url="http://t/r")
    assert ConnectedAccount.objects.filter(user=owner).count() == 1


def test_renters_cannot_onboard(stripe_server, renter):
    with pytest.raises(services.PermissionDeniedError):
        services.connect_onboard(actor=renter, refresh_url="http://t/r", return_url="http://t/r")


def test_on_demand_payout_transfers_the_earnings_once(stripe_server, owner):
    onboard(stripe_server, owner)
    earn(owner, 4321)
    payout = services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand")
    assert (payout.amount, payout.status) == (4321, "created")
    # While in flight, the same earnings cannot be paid again.
    with pytest.raises(services.ConflictError):
        services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand")
    payout = services.payout_process(payout_id=payout.pk)
    assert payout.status == "paid" and payout.stripe_transfer_id.startswith("tr_")
    assert services.payout_process(payout_id=payout.pk).stripe_transfer_id == payout.stripe_transfer_id
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 0
    transfers = requests.get(
        f"{stripe_server.url}/v1/transfers", headers={"Authorization": "Bearer sk_test_billing"}, timeout=5
    ).json()["data"]
    assert [(t["amount"], t["destination"], t["metadata"]["idempotency_key"]) for t in transfers] == [
        (4321, ConnectedAccount.objects.get(user=owner).stripe_account_id, payout.idempotency_key)
    ]
    assert_ledger_balanced()


def test_payout_below_minimum_or_without_onboarding_is_refused(stripe_server, owner):
    earn(owner, 5000)
    with pytest.raises(services.DomainError, match="onboarding"):
        services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand")
    onboard(stripe_server, owner)
    services.adjustment_post(
        actor=_staff(),
        user=owner,
        account_kind="owner_payable",
        amount=-4500,
        currency="USD",
        reason="chargeback recovered",
        idempotency_key="adj-1",
    )
    with pytest.raises(services.DomainError, match="below the payout minimum of 10.00 USD"):
        services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand")
    assert Payout.objects.count() == 0


def _staff():  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    return UserFactory(is_staff=True, is_superuser=True)  # may post adjustments (billing.post_adjustment)


def test_failed_transfer_returns_earnings_to_payable(stripe_server, owner):
    onboard(stripe_server, owner)
    earn(owner, 2000)
    requests.post(f"{stripe_server.url}/_config/contract/fail_next_transfer", timeout=5)
    payout = services.payout_process(
        payout_id=services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand").pk
    )
    assert payout.status == "failed" and "Insufficient funds" in payout.failure_message
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 2000
    assert_ledger_balanced()


def test_scheduled_payouts_pay_owners_above_the_minimum(stripe_server, owner, other_owner, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from marketplace.celery import app

    app.conf.task_always_eager = True
    try:
        onboard(stripe_server, owner)
        onboard(stripe_server, other_owner)
        earn(owner, 1500)
        earn(other_owner, 999)  # below the 10.00 minimum
        assert tasks.run_scheduled_payouts() == 1
    finally:
        app.conf.task_always_eager = False
    assert list(Payout.objects.values_list("owner_id", "amount", "status", "trigger")) == [
        (owner.pk, 1500, "paid", "schedule")
    ]
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", other_owner) == 999


def test_transfer_reversed_event_returns_the_money(stripe_server, owner):
    from billing import webhooks

    onboard(stripe_server, owner)
    earn(owner, 3000)
    payout = services.payout_process(
        payout_id=services.payout_request(actor=owner, owner=owner, currency="USD", trigger="on_demand").pk
    )
    from billing.models import WebhookEvent

    event = WebhookEvent.objects.create(
        stripe_event_id="evt_tr_rev",
        type="transfer.reversed",
        payload={
            "type": "transfer.reversed",
            "data": {
                "object": {
                    "id": payout.stripe_transfer_id,
                    "object": "transfer",
                    "amount": 3000,
                    "amount_reversed": 3000,
                    "reversed": True,
                    "currency": "usd",
                    "metadata": {"idempotency_key": payout.idempotency_key},
                }
            },
        },
    )
    assert webhooks.event_process(event_id=event.pk).status == "processed"
    assert Payout.objects.get(pk=payout.pk).status == "reversed"
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 3000
    assert_ledger_balanced()
