from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing import ledger, services
from billing import stripe_gateway as gateway
from billing.models import PaymentMethod
from owners.predefined import ensure_predefined_profiles
from tests.billing.harness import LocalStripe

WEBHOOK_SECRET = "whsec_test_billing"


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory) -> Iterator[LocalStripe]:  # type: ignore[no-untyped-def]
    server = LocalStripe(tmp_path_factory.mktemp("localstripe"))
    yield server
    server.stop()


@pytest.fixture
def stripe_server(localstripe_server, settings) -> LocalStripe:  # type: ignore[no-untyped-def]
    """A clean localstripe with the gateway pointed at it (prepaid mode unless a test says otherwise)."""
    localstripe_server.reset()
    localstripe_server.unregister_webhooks()
    settings.STRIPE_API_BASE = localstripe_server.url
    settings.STRIPE_SECRET_KEY = "sk_test_billing"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_TIMEOUT_SECONDS = 10
    settings.BILLING_MODE = "prepaid"
    settings.PLATFORM_FEE_PERCENT = "10"
    settings.PAYOUT_MINIMUM = 1000
    settings.BILLING_TOPUP_MINIMUM = 500
    ensure_predefined_profiles()
    return localstripe_server


def add_card(user, test_card: str = "pm_card_visa") -> PaymentMethod:  # type: ignore[no-untyped-def]
    """What the browser does with Stripe.js, done server-side: confirm the SetupIntent with a test card."""
    setup = services.card_setup_start(actor=user)
    gateway.confirm_setup_intent(setup["setup_intent_id"], payment_method=test_card)
    return services.card_setup_complete(actor=user, setup_intent_id=setup["setup_intent_id"])


def fund(user, amount: int) -> None:  # type: ignore[no-untyped-def]
    """Give a renter prepaid balance without Stripe (a staff adjustment), for engine-side tests."""
    from tests.factories import fund_renter

    fund_renter(user, amount)


def assert_ledger_balanced() -> None:
    assert ledger.unbalanced_transactions() == []
    assert all(total == 0 for total in ledger.trial_balance().values())


@pytest.fixture(autouse=True)
def _billing_hooks_only():  # type: ignore[no-untyped-def]
    """Billing's tests see the engine's hooks with billing's receivers only (no provisioning launches)."""
    from billing import integration
    from scheduling import hooks

    with hooks.isolated():
        integration.register_with_engine()
        yield
