"""Portal pages, statements (CSV and PDF) and the owner's revenue, all read from the ledger; who may see what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from pypdf import PdfReader
from rest_framework.test import APIClient

from audit.models import DomainEvent
from billing import integration, ledger
from billing.models import LedgerTransaction, OfferingBillingPolicy
from scheduling import services as engine
from scheduling.models import Booking
from tests import factories
from tests.billing.conftest import fund
from tests.conftest import login

pytestmark = pytest.mark.django_db
K = ledger.Kind
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def history(renter, owner, settings, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """December 2026: funded 50.00, a 10-minute slice released after 150 s, another preempted on short notice."""
    settings.BILLING_MODE = "prepaid"
    settings.PLATFORM_FEE_PERCENT = "10"
    integration.register_with_engine()
    offer = factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 100},
        preemption_notice_seconds=120,
        name="Rack A",
    )
    OfferingBillingPolicy.objects.create(offering=offer, short_notice_credit_percent=200)
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False):
        fund(renter, 5000)
        with django_capture_on_commit_callbacks(execute=True):
            first = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
            second = engine.booking_request(
                actor=renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=1), 600)
            )
    with (
        time_machine.travel(T10 + timedelta(seconds=150), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        engine.booking_release(actor=renter, booking_id=first.pk)
    t2 = T10 + timedelta(hours=1)
    with time_machine.travel(t2 + timedelta(seconds=300), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.booking_preempt(actor=owner, booking=Booking.objects.get(pk=second.pk), notice_seconds=60)
    with time_machine.travel(t2 + timedelta(seconds=360), tick=False), django_capture_on_commit_callbacks(execute=True):
        engine.preemptions_end_due()
    return {"offer": offer, "first": first, "second": second}


def test_ledger_after_history(history, renter, owner):
    # first: 250 (fee 25). second: paid to 360 s = 600 (fee 60); 60 s notice of 120 promised, 240 s lost:
    # 60 s short x 2 = 1000 * 120 / 600 = 200 credit, from the owner's earnings.
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 5000 - 250 - 600 + 200
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 225 + 540 - 200
    assert ledger.balance_of(K.PLATFORM_FEES, "USD") == 85
    assert ledger.unbalanced_transactions() == []


def test_statement_csv_lists_the_months_money(history, renter):
    with time_machine.travel(datetime(2027, 1, 2, tzinfo=UTC), tick=False):
        response = login(renter).get("/billing/statement", {"year": 2026, "month": 12, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="statement-2026-12.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["date_utc", "kind", "description", "booking_id", "amount_minor", "currency", "amount"]
    body = [(r[1], r[3], r[4]) for r in rows[1:]]
    first, second = str(history["first"].pk), str(history["second"].pk)
    assert body == [
        ("adjustment", "", "5000"),
        ("charge", first, "-250"),
        ("short_notice_credit", second, "200"),
        ("charge", second, "-600"),
    ]


def test_statement_pdf_is_a_table_a_person_can_read(history, renter):
    """Parsed back: a title, the period in the viewer's zone, a row per movement with its running balance."""
    renter.timezone = "Europe/Paris"
    renter.save(update_fields=["timezone"])
    response = login(renter).get("/billing/statement", {"year": 2026, "month": 12, "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement-2026-12.pdf"'
    reader = PdfReader(io.BytesIO(response.content))
    assert reader.metadata.title == "Statement 2026-12"
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Statement 2026-12" in text and f"For {renter.email}" in text
    assert "Period: 2026-12-01 00:00 to 2027-01-01 00:00 (Europe/Paris)" in text  # the viewer's month
    assert "Date (Europe/Paris)" in text and "Description" in text and "Amount" in text and "Balance" in text
    first, second = history["first"].pk, history["second"].pk
    # date (Paris), amount and the funds after it: 50.00, -2.50, +2.00 credit, -6.00.
    for row in (
        "2026-12-01 10:00",
        f"Booking #{first}",
        "50.00 USD 50.00 USD",
        "-2.50 USD 47.50 USD",
        "2.00 USD 49.50 USD",
        f"Booking #{second}",
        "-6.00 USD 43.50 USD",
    ):
        assert row in text, row
    assert "Net for the month (USD) 43.50 USD" in text
    assert "Available at month end (USD) 43.50 USD" in text


def test_a_statement_is_the_viewers_calendar_month_and_the_api_keeps_utc(history, renter):
    """Funded at 09:00 UTC on December 1st, which is 23:00 on November 30th in Honolulu (UTC-10): the
    top-up is on a Honolulu renter's November statement, the bookings' money (from 10:00 UTC) on
    December's; the API's statement is the UTC month, where all of it is December's."""
    renter.timezone = "Pacific/Honolulu"
    renter.save(update_fields=["timezone"])
    client = login(renter)

    def kinds(year: int, month: int) -> list[str]:
        response = client.get("/billing/statement", {"year": year, "month": month, "format": "csv"})
        return [row[1] for row in list(csv.reader(io.StringIO(response.content.decode())))[1:]]

    assert kinds(2026, 11) == ["adjustment"]
    assert kinds(2026, 12) == ["charge", "short_notice_credit", "charge"]
    page = client.get("/billing/statement", {"year": 2026, "month": 11}).content.decode()
    assert '<tr data-testid="statement-USD"><td>USD</td><td>50.00 USD</td>' in page  # November's net: the top-up
    api = APIClient()
    api.force_authenticate(renter)
    assert [line["kind"] for line in api.get("/api/v1/billing/statements/2026/12").json()] == [
        "adjustment",
        "charge",
        "short_notice_credit",
        "charge",
    ]


def test_statement_pdf_of_an_empty_month_says_so(renter):
    response = login(renter).get("/billing/statement", {"year": 2026, "month": 6, "format": "pdf"})
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Nothing this month." in text and "Net for the month" not in text


def test_statement_of_another_renter_is_empty(history):
    other = factories.renter()
    response = login(other).get("/billing/statement", {"year": 2026, "month": 12, "format": "csv"})
    assert response.content.decode().strip().count("\n") == 0


def test_overview_shows_balance_and_running_costs(history, renter):
    response = login(renter).get("/billing/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "43.50 USD" in html  # available
    assert f"#{history['first'].pk}" in html and "2.50 USD" in html


def test_running_cost_is_live_while_a_slice_runs(renter, owner, settings, django_capture_on_commit_callbacks):
    from billing import selectors
    from billing.models import BookingCharge

    settings.BILLING_MODE = "prepaid"
    integration.register_with_engine()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    with time_machine.travel(NOW, tick=False):
        fund(renter, 1000)
        with django_capture_on_commit_callbacks(execute=True):
            booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    charge = BookingCharge.objects.get(booking_id=booking.pk)
    assert selectors.running_cost(charge, T10 - timedelta(seconds=5)) == 0
    assert selectors.running_cost(charge, T10 + timedelta(seconds=61)) == 102
    assert selectors.running_cost(charge, T10 + timedelta(hours=2)) == 1000
    with time_machine.travel(T10 + timedelta(seconds=30), tick=False):
        assert "0.50 USD" in login(renter).get("/billing/costs").content.decode()


def test_owner_revenue_page_per_offering_and_day(history, owner, renter):
    with time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False):
        response = login(owner).get("/billing/owner/")
        assert response.status_code == 200
        rows = response.context["summary"]["days"]
    assert [
        (r["day"].isoformat(), r["offering_name"], r["gross"], r["fees"], r["credits"], r["net"]) for r in rows
    ] == [("2026-12-01", "Rack A", 850, 85, 200, 565)]
    assert response.context["payable"] == {"USD": 565}
    assert login(renter).get("/billing/owner/").status_code == 404


def test_pages_need_login():
    from django.test import Client

    for url in ["/billing/", "/billing/costs", "/billing/statement", "/billing/owner/"]:
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_api_permission_matrix(history, renter, owner):
    from django.test import Client

    anonymous = Client()
    for url in [
        "/api/v1/billing/balance",
        "/api/v1/billing/payments",
        "/api/v1/billing/bookings",
        "/api/v1/billing/statements/2026/12",
        "/api/v1/billing/payouts",
    ]:
        assert anonymous.get(url).status_code in (401, 403), url
    client = login(renter)
    # The old fields keep their meaning (the default currency's figures); issue 12 adds every currency held.
    assert client.get("/api/v1/billing/balance").json() == {
        "mode": "prepaid",
        "currency": "USD",
        "available": 4350,
        "held": 0,
        "balances": [
            {
                "currency": "USD",
                "available": 4350,
                "held": 0,
                "available_display": "43.50 USD",
                "held_display": "0.00 USD",
            }
        ],
        "topup_currencies": ["USD"],
    }
    bookings = client.get("/api/v1/billing/bookings").json()
    assert sorted((b["booking_id"], b["charged_amount"], b["credit_amount"]) for b in bookings) == sorted(
        [(history["first"].pk, 250, 0), (history["second"].pk, 600, 200)]
    )
    assert [line["amount"] for line in client.get("/api/v1/billing/statements/2026/12").json()] == [
        5000,
        -250,
        200,
        -600,
    ]
    assert client.get("/api/v1/billing/payouts").status_code == 403
    assert login(owner).get("/api/v1/billing/bookings").json() == []  # the owner rents nothing
    assert login(owner).get("/api/v1/billing/payouts").json()["payable"] == {"USD": 565}


def test_admin_browses_ledger_and_posts_an_audited_adjustment(staff, renter):
    client = login(staff)
    for url in [
        "/admin/billing/ledgertransaction/",
        "/admin/billing/ledgeraccount/",
        "/admin/billing/ledgerentry/",
        "/admin/billing/payment/",
        "/admin/billing/payout/",
        "/admin/billing/webhookevent/",
        "/admin/billing/bookingcharge/",
        "/admin/billing/ledgertransaction/adjust/",
    ]:
        assert client.get(url).status_code == 200, url
    form = client.get("/admin/billing/ledgertransaction/adjust/").context["form"]
    data = {
        "user": renter.pk,
        "account_kind": "renter_balance",
        "amount": "12.34",  # issue 12: typed in major units (it was 1234 minor units)
        "currency": "USD",
        "reason": "Outage on 1 Dec",
        "nonce": form["nonce"].value(),
    }
    response = client.post("/admin/billing/ledgertransaction/adjust/", data)
    assert response.status_code == 302
    client.post("/admin/billing/ledgertransaction/adjust/", data)  # double submit: same nonce, one posting
    txn = LedgerTransaction.objects.get(kind="adjustment")
    assert (txn.actor_id, txn.memo) == (staff.pk, "Outage on 1 Dec")
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 1234
    assert ledger.balance_of(K.PLATFORM_ADJUSTMENTS, "USD") == 1234
    event = DomainEvent.objects.get(verb="billing.adjustment.posted")
    assert event.actor_id == staff.pk and event.data["reason"] == "Outage on 1 Dec"
    detail = client.get(f"/admin/billing/ledgertransaction/{txn.pk}/change/")
    assert detail.status_code == 200 and "Outage on 1 Dec" in detail.content.decode()


def test_adjustment_without_reason_or_by_non_staff_changes_nothing(staff, renter):
    from billing import services

    with pytest.raises(services.ValidationFailed):
        services.adjustment_post(
            actor=staff,
            user=renter,
            account_kind="renter_balance",
            amount=5,
            currency="USD",
            reason=" ",
            idempotency_key="a",
        )
    with pytest.raises(services.PermissionDeniedError):
        services.adjustment_post(
            actor=renter,
            user=renter,
            account_kind="renter_balance",
            amount=5,
            currency="USD",
            reason="free money",
            idempotency_key="b",
        )
    assert LedgerTransaction.objects.count() == 0
    assert login(renter).get("/admin/billing/ledgertransaction/adjust/").status_code == 302


def test_billing_terms_are_shown_before_buying(owner):
    from django.test import Client

    offer = factories.offering(
        owner,
        publish=True,
        pricing={"model": "fixed", "price_per_unit": 100, "release_charge": "full"},
        preemption_notice_seconds=300,
    )
    OfferingBillingPolicy.objects.create(offering=offer, short_notice_credit_percent=250)
    html = Client().get(f"/billing/terms/{offer.pk}").content.decode()
    assert "Small: released early, you pay the whole slice." in html
    assert "300 s notice" in html and "250 %" in html
    terms = Client().get(f"/billing/terms/{offer.pk}", HTTP_ACCEPT="application/json").json()
    assert terms["release_charge"] == [{"profile": "Small", "release_charge": "full", "explained": "the whole slice"}]
    draft = factories.offering(owner)
    assert Client().get(f"/billing/terms/{draft.pk}").status_code == 404


def test_owner_revenue_csv(history, owner):
    with time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False):
        response = login(owner).get("/billing/owner/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["day", "offering_id", "offering", "currency", "renters_paid", "platform_fee", "credits", "net"],
        # issue 12: major units of the row's currency (they were 850, 85, 200, 565 minor units)
        ["2026-12-01", str(history["offer"].pk), "Rack A", "USD", "8.50", "0.85", "2.00", "5.65"],
    ]
