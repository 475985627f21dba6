"""Issue 12, point 9: money in major units with its currency in admin lists and messages, and typed in
major units in the admin (the revenue CSV: test_portal_and_statements.test_owner_revenue_csv)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing import ledger, services
from billing.models import BookingCharge, LedgerTransaction
from marketplace.lib import clock
from owners.models import PricingPolicy
from scheduling import services as engine
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db
K = ledger.Kind


@pytest.fixture
def booked(renter, owner, settings, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """A 10-minute EUR slice at 2.50 EUR per minute: 25.00 EUR held."""
    settings.BILLING_MODE = "prepaid"
    offer = factories.offering(
        owner, publish=True, pricing={"model": "fixed", "currency": "EUR", "price_per_unit": 250}
    )
    factories.fund_renter(renter, 10000, "EUR")
    start = clock.now().replace(second=0, microsecond=0) + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, start, 600))
    assert BookingCharge.objects.get(booking_id=booking.pk).price == 2500
    return booking


def _cell(html: str, name: str) -> str:
    start = html.index(f'class="field-{name}')
    return html[html.index(">", start) + 1 : html.index("</td>", start)]


def test_admin_lists_show_major_units_with_the_currency(booked, staff):
    client = login(staff)
    charges = client.get("/admin/billing/bookingcharge/").content.decode()
    assert _cell(charges, "price_money") == "25.00 EUR"
    bookings = client.get("/admin/scheduling/booking/").content.decode()
    assert _cell(bookings, "unit_price_money") == "2.50 EUR" and _cell(bookings, "total_price_money") == "25.00 EUR"
    prices = client.get("/admin/owners/pricingpolicy/").content.decode()
    assert _cell(prices, "price_per_unit_money") == "2.50 EUR" and _cell(prices, "reserve_price_money") == "—"
    entries = client.get("/admin/billing/ledgerentry/").content.decode()
    assert "100.00 EUR" in entries and "-25.00 EUR" in entries and ">2500<" not in entries
    for url in [
        "/admin/billing/payment/",
        "/admin/billing/payout/",
        "/admin/billing/refund/",
        "/admin/scheduling/quote/",
    ]:
        assert client.get(url).status_code == 200, url
    for url in ["/admin/scheduling/auctionround/", "/admin/scheduling/pricehistory/"]:
        assert client.get(url).status_code == 200, url


def test_admin_prices_are_typed_in_major_units(booked, staff):
    policy = PricingPolicy.objects.get()
    client = login(staff)
    page = client.get(f"/admin/owners/pricingpolicy/{policy.pk}/change/")
    form = page.context["adminform"].form
    assert form["price_per_unit"].value() == pytest.approx(2.5)
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, (list, dict))}
    data |= {
        "offering": policy.offering_id,
        "profile": policy.profile_id,
        "price_per_unit": "2.75",
        "surge_curve": "[]",
        "release_charge": policy.release_charge,
    }
    for name in ("created_at", "updated_at"):  # the admin's split date/time widgets
        at = data.pop(name)
        data |= {f"{name}_0": at.date().isoformat(), f"{name}_1": at.time().strftime("%H:%M:%S")}
    response = client.post(f"/admin/owners/pricingpolicy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert policy.price_per_unit == 275
    refused = client.post(f"/admin/owners/pricingpolicy/{policy.pk}/change/", data | {"price_per_unit": "2.755"})
    assert "2.755 EUR has more than 2 decimal places" in refused.content.decode()
    policy.refresh_from_db()
    assert policy.price_per_unit == 275


def test_messages_name_money_in_major_units(booked, staff, renter):
    with pytest.raises(services.ValidationFailed) as zero:
        services.adjustment_post(
            actor=staff,
            user=renter,
            account_kind="renter_balance",
            amount=0,
            currency="EUR",
            reason="nothing",
            idempotency_key="zero",
        )
    assert "minor units" not in str(zero.value.errors)
    services.booking_hold_adjust(booking_id=booked.pk, total=3000)
    memo = LedgerTransaction.objects.filter(idempotency_key__startswith=f"booking-{booked.pk}-hold-adjust-").get().memo
    assert memo == f"Hold for booking #{booked.pk} raised to 30.00 EUR (profile change)"


def test_admin_adjustment_typed_in_major_units_and_a_bad_one_changes_nothing(staff, renter):
    client = login(staff)
    form = client.get("/admin/billing/ledgertransaction/adjust/").context["form"]
    data = {
        "user": renter.pk,
        "account_kind": "renter_balance",
        "amount": "7.5",
        "currency": "EUR",
        "reason": "Goodwill",
        "nonce": form["nonce"].value(),
    }
    done = client.post("/admin/billing/ledgertransaction/adjust/", data, follow=True)
    assert "Adjustment 7.50 EUR posted." in done.content.decode()
    assert ledger.balance_of(K.RENTER_BALANCE, "EUR", renter) == 750
    bad = client.post("/admin/billing/ledgertransaction/adjust/", data | {"amount": "1.234", "nonce": "other"})
    assert "1.234 EUR has more than 2 decimal places" in bad.content.decode()
    assert ledger.balance_of(K.RENTER_BALANCE, "EUR", renter) == 750


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_refund_is_typed_in_major_units_and_too_much_is_refused_in_them(stripe_server, renter, staff):
    from tests.billing.conftest import add_card

    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=2000).pk)
    client = login(staff)
    form = client.post("/admin/billing/payment/", {"action": "refund", "_selected_action": [payment.pk]})
    html = form.content.decode()
    assert "Amount (USD)" in html and 'value="20.00"' in html
    action = {"action": "refund", "_selected_action": [payment.pk], "apply": "1", "reason": "too much"}
    refused = client.post("/admin/billing/payment/", action | {"amount": "25.00"}, follow=True)
    assert "Between 0.01 USD and 20.00 USD can be refunded." in refused.content.decode()
    assert not payment.refunds.exists() and ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 2000
