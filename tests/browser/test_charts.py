"""Real Chromium draws the portal's charts (issue 15 item 2): a running booking's usage (refreshed
while it runs), the owner's revenue per day and offering, an offering's utilisation, and a renter's
spending against their limit. Each canvas is drawn with data points, the table beside it has the
same figures, and the page logs no console error."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from billing import ledger
from billing.models import BookingCharge, LedgerAccount, LedgerTransaction
from marketplace.lib import clock
from provisioning.models import Server, UsageSample
from renters.models import RenterSettings
from tests import factories
from tests.browser.test_portals import log_in
from tests.provisioning.helpers import booking

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

K = LedgerAccount.Kind


def _watch_errors(page):  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _drawn(page, testid: str) -> int:  # type: ignore[no-untyped-def]
    """Waits for the canvas to be drawn; its data points."""
    canvas = page.locator(f"canvas[data-testid={testid}]")
    page.wait_for_selector(f"canvas[data-testid={testid}][data-rendered=true]")
    points = int(canvas.get_attribute("data-points") or 0)
    assert points > 0, testid
    return points


def _spec(page, data_id: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(page.locator(f"#{data_id}").text_content())


def _cells(page, testid: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    rows = page.locator(f"[data-testid={testid}] tbody tr")
    return [[c.strip() for c in rows.nth(i).locator("td").all_text_contents()] for i in range(rows.count())]


def _sample(server, at, n: int) -> None:  # type: ignore[no-untyped-def]
    """The n-th reading: per minute 0.5 vCPU busy, 1 KiB/s read and written, 2 KiB/s in and out."""
    UsageSample.objects.create(
        server=server, booking=server.booking, at=at, cpu_time_ns=n * 30 * 10**9, memory_mib=500 + n,
        disk_read_bytes=n * 61440, disk_write_bytes=n * 61440, net_rx_bytes=n * 122880, net_tx_bytes=n * 122880,
        raw={"status": "ACTIVE"},
    )  # fmt: skip


def test_each_chart_is_drawn_with_its_table_beside_it(page, live_server):  # type: ignore[no-untyped-def]
    errors = _watch_errors(page)
    owner, renter = factories.owner(), factories.renter()
    renter.timezone = owner.timezone = "America/New_York"
    renter.save(update_fields=["timezone"])
    owner.save(update_fields=["timezone"])
    rack, shelf = factories.offering(owner, publish=True, vcpus=4, name="Rack"), factories.offering(owner, name="Shelf")
    now = clock.now()

    # A running booking metered three times so far (two intervals).
    b = booking(renter, rack, state="running", profile="Medium", starts_at=now - timedelta(minutes=5), seconds=3600)
    server = Server.objects.create(
        cloud=rack.cloud, offering=rack, booking=b, state="active", name="s", vcpus=2, ram_mib=4096,
        held_from=b.starts_at,
    )  # fmt: skip
    for n in range(3):
        _sample(server, now - timedelta(minutes=3 - n), n)

    log_in(page, renter.email)
    page.goto(f"/bookings/{b.pk}/server/")
    assert _drawn(page, "usage-chart-cpu") == 2 and _drawn(page, "usage-chart-memory") == 2
    assert _drawn(page, "usage-chart-disk") == 4 and _drawn(page, "usage-chart-network") == 4
    table = _cells(page, "usage-table")
    cpu = _spec(page, "usage-cpu-data")
    assert [r[0] for r in table] == cpu["labels"] and [float(r[1]) for r in table] == cpu["datasets"][0]["data"]
    assert [r[3] for r in table] == ["1.0 / 1.0", "1.0 / 1.0"] and [r[4] for r in table] == ["2.0 / 2.0"] * 2
    assert "America/New_York" in page.inner_text("[data-testid=usage-table] thead")
    # While it runs the charts refresh: a new reading appears without reloading the page.
    _sample(server, clock.now(), 3)
    page.wait_for_selector("canvas[data-testid=usage-chart-cpu][data-points='3']", timeout=15_000)

    # The renter's spending this month: one settled charge and one open hold, against a limit of 20.00.
    RenterSettings.objects.update_or_create(user=renter, defaults={"spend_limit": 2000, "currency": "USD"})
    charge = {"renter": renter, "owner": owner, "offering_id": rack.pk, "mode": "prepaid", "currency": "USD"}
    window = {"starts_at": now - timedelta(hours=2), "ends_at": now - timedelta(hours=1)}
    BookingCharge.objects.create(
        booking_id=b.pk + 1000, price=500, charged_amount=500, state="settled", **charge, **window
    )
    BookingCharge.objects.create(booking_id=b.pk, price=300, state="held", **charge, **window)
    page.goto("/billing/")
    spend = _spec(page, "spend-chart-data")
    days = len(spend["labels"])
    assert _drawn(page, "spend-chart") == 3 * days
    assert [d["label"] for d in spend["datasets"]] == ["Spent that day", "Spent this month", "Monthly limit"]
    rows = page.locator("[data-testid=spend-table] tbody tr td[data-minor]")
    minor = [int(rows.nth(i).get_attribute("data-minor") or 0) for i in range(rows.count())]
    assert [m / 100 for m in minor[0::2]] == spend["datasets"][0]["data"]
    assert [m / 100 for m in minor[1::2]] == spend["datasets"][1]["data"]
    assert spend["datasets"][1]["data"][-1] == 8.0 and spend["datasets"][2]["data"] == [20.0] * days
    assert page.inner_text("[data-testid=spend-total]") == "8.00 USD"

    # The owner's revenue: two offerings earned today (net of the 10 % fee).
    for offering, amount, key in ((rack, 500, "a"), (shelf, 300, "b")):
        ledger.post_transaction(
            kind=LedgerTransaction.Kind.CHARGE,
            idempotency_key=f"charts-{key}",
            offering_id=offering.pk,
            lines=[
                (ledger.account(K.RENTER_BALANCE, "USD", renter), amount),
                (ledger.account(K.OWNER_PAYABLE, "USD", owner), -amount * 9 // 10),
                (ledger.account(K.PLATFORM_FEES, "USD"), -amount // 10),
            ],
        )
    page.context.clear_cookies()
    log_in(page, owner.email)
    page.goto("/billing/owner/")
    revenue = _spec(page, "revenue-chart-data-USD")
    assert _drawn(page, "revenue-chart-USD") == 2 * 31 and revenue["stacked"] is True
    net = {d["label"]: sum(d["data"]) for d in revenue["datasets"]}
    assert net == {"Rack": 4.5, "Shelf": 2.7}
    table = {r[1]: r[5] for r in _cells(page, "revenue-table")}
    assert table == {"Rack": "4.50 USD", "Shelf": "2.70 USD"}

    # The offering's utilisation: 2 of its 4 vCPUs booked since 5 minutes ago.
    page.goto("/owner/")
    page.click(f"[data-testid=utilisation] a[href='/owner/offerings/{rack.pk}/utilisation']")
    assert _drawn(page, "utilisation-chart") == 3 * 7
    chart = _spec(page, "utilisation-chart-data")
    table = _cells(page, "utilisation-table")
    assert [r[0] for r in table] == chart["labels"]
    for i, dataset in enumerate(chart["datasets"], start=1):
        assert [float(r[i]) for r in table] == dataset["data"]
    assert chart["datasets"][0]["data"][-1] > 0  # today, booked
    assert errors == []
