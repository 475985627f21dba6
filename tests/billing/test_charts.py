"""The billing charts' figures: the owner's revenue per day of the viewer's zone and per offering (one
selector for the page and the owner API), and a renter's spending per day against the monthly limit.

From the ``history`` of tests/billing/test_portal_and_statements: prices of 100 per minute, a first
slice released after 150 s (charged 250, settled 2026-12-01 10:02:30 UTC), a second preempted at 11:05
with 60 s of the 120 s notice promised and ended at 11:06 (charged 600; a credit of 60 s × 100/60 ×
200 % = 200 from the owner); the platform's fee is 10 %. In Pacific/Auckland (UTC+13 in December)
the first is on 1 December, the second on the 2nd.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from billing import selectors, services
from renters.models import RenterSettings
from tests.billing.test_portal_and_statements import history  # noqa: F401 - the fixture
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(request):  # type: ignore[no-untyped-def]
    return request.getfixturevalue("history")


AUCKLAND = ZoneInfo("Pacific/Auckland")
DEC2 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # 3 December, 01:00 in Auckland


def _amounts(row):  # type: ignore[no-untyped-def]
    return (row["day"].isoformat(), row["offering_name"], row["gross"], row["fees"], row["credits"], row["net"])


def test_revenue_days_follow_the_viewers_zone(ledger, owner):  # type: ignore[no-untyped-def]
    with time_machine.travel(DEC2, tick=False):
        utc = selectors.owner_revenue_summary(owner, date(2026, 11, 20), date(2026, 12, 2))
        local = selectors.owner_revenue_summary(owner, date(2026, 11, 20), date(2026, 12, 3), AUCKLAND)
    assert [_amounts(r) for r in utc["days"]] == [("2026-12-01", "Rack A", 850, 85, 200, 565)]
    assert [_amounts(r) for r in local["days"]] == [
        ("2026-12-02", "Rack A", 600, 60, 200, 340),
        ("2026-12-01", "Rack A", 250, 25, 0, 225),
    ]
    assert (
        utc["totals"] == local["totals"] == [{"currency": "USD", "gross": 850, "fees": 85, "credits": 200, "net": 565}]
    )
    assert [(o["offering_name"], o["net"]) for o in local["offerings"]] == [("Rack A", 565)]
    # A range that ends before the second slice's day (in Auckland) leaves it out.
    with time_machine.travel(DEC2, tick=False):
        first_day = selectors.owner_revenue_summary(owner, date(2026, 12, 1), date(2026, 12, 1), AUCKLAND)
    assert [_amounts(r) for r in first_day["days"]] == [("2026-12-01", "Rack A", 250, 25, 0, 225)]


def test_revenue_chart_stacks_each_offerings_net_per_day(ledger, owner):  # type: ignore[no-untyped-def]
    with time_machine.travel(DEC2, tick=False):
        summary = selectors.owner_revenue_summary(owner, date(2026, 11, 30), date(2026, 12, 3), AUCKLAND)
    (chart,) = selectors.owner_revenue_charts(summary)
    assert (chart["type"], chart["stacked"], chart["currency"]) == ("bar", True, "USD")
    assert chart["labels"] == ["2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"]
    assert chart["datasets"] == [{"label": "Rack A", "data": [0.0, 2.25, 3.4, 0.0]}]


def test_the_owner_api_and_the_page_give_the_same_figures(ledger, owner):  # type: ignore[no-untyped-def]
    with time_machine.travel(DEC2, tick=False):
        body = login(owner).get("/api/v1/owner/revenue", {"from": "2026-11-20", "to": "2026-12-02"}).json()
        owner.timezone = "Pacific/Auckland"
        owner.save(update_fields=["timezone"])
        page = login(owner).get("/billing/owner/", {"since": "2026-11-20", "until": "2026-12-03"})
    assert body["totals"] == [{"currency": "USD", "gross": 850, "fees": 85, "credits": 200, "net": 565}]
    assert [(d["day"], d["net"]) for d in body["days"]] == [("2026-12-01", 565)]  # UTC days
    assert page.status_code == 200
    assert [(r["day"].isoformat(), r["net"]) for r in page.context["summary"]["days"]] == [
        ("2026-12-02", 340),
        ("2026-12-01", 225),
    ]
    html = page.content.decode()
    assert 'id="revenue-chart-data-USD"' in html and "Pacific/Auckland" in html


def test_a_bad_revenue_range_is_a_form_error(ledger, owner):  # type: ignore[no-untyped-def]
    with time_machine.travel(DEC2, tick=False):
        backwards = login(owner).get("/billing/owner/", {"since": "2026-12-02", "until": "2026-12-01"})
        too_long = login(owner).get("/billing/owner/", {"since": "2020-01-01", "until": "2026-12-01"})
        garbage = login(owner).get("/billing/owner/", {"since": "soon", "until": "2026-12-01"})
    assert backwards.status_code == too_long.status_code == garbage.status_code == 400
    assert "The last day cannot come before the first." in backwards.content.decode()
    assert "A time range can be at most" in too_long.content.decode()
    assert "Enter a valid date." in garbage.content.decode()


def test_spend_per_day_adds_up_to_what_the_limit_counts(ledger, renter):  # type: ignore[no-untyped-def]
    with time_machine.travel(DEC2, tick=False):
        spend = selectors.renter_daily_spend(renter, "USD", AUCKLAND)
        counted = services.renter_month_spend(renter, "USD")
    # The limit's month began 1 December 00:00 UTC, 13:00 in Auckland; now is 3 December 01:00 there.
    assert spend["days"] == [(date(2026, 12, 1), 250, 250), (date(2026, 12, 2), 600, 850), (date(2026, 12, 3), 0, 850)]
    assert spend["total"] == counted == 850
    chart = selectors.renter_spend_chart(spend, 2000)
    assert chart["labels"] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert [(d["label"], d.get("type"), d.get("dashed"), d["data"]) for d in chart["datasets"]] == [
        ("Spent that day", None, None, [2.5, 6.0, 0.0]),
        ("Spent this month", "line", None, [2.5, 8.5, 8.5]),
        ("Monthly limit", "line", True, [20.0, 20.0, 20.0]),
    ]
    assert [d["label"] for d in selectors.renter_spend_chart(spend, None)["datasets"]] == [
        "Spent that day",
        "Spent this month",
    ]
    # Next month starts from nothing.
    with time_machine.travel(datetime(2027, 1, 1, 0, 30, tzinfo=UTC), tick=False):
        assert selectors.renter_daily_spend(renter, "USD", UTC)["days"] == [(date(2027, 1, 1), 0, 0)]


def test_the_billing_page_charts_spending_against_the_limit(ledger, renter):  # type: ignore[no-untyped-def]
    RenterSettings.objects.update_or_create(user=renter, defaults={"spend_limit": 2000, "currency": "USD"})
    with time_machine.travel(DEC2, tick=False):
        page = login(renter).get("/billing/")
    assert page.status_code == 200
    assert page.context["spend_limit"] == 2000
    assert page.context["spend"]["days"] == [(date(2026, 12, 1), 850, 850), (date(2026, 12, 2), 0, 850)]
    html = page.content.decode()
    assert 'id="spend-chart-data"' in html and "Monthly limit" in html and "20.00 USD" in html
