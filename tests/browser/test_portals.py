"""Real Chromium through the portals: an owner builds and publishes an offering, a renter finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from owners.models import Offering
from tests import factories
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "test-results"


def log_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def test_owner_builds_and_publishes_an_offering_that_a_renter_finds(page, browser, live_server):
    owner = factories.owner(email="olga@example.test")
    factories.renter(email="rita@example.test")

    log_in(page, owner.email)
    page.goto("/owner/")
    page.click("text=Add a cloud")
    page.fill("input[name=name]", "Lab cloud")
    page.select_option("select[name=driver]", "simulator")
    page.click("main button:has-text('Save')")
    page.click("button:has-text('Test connection')")  # htmx swaps the status in place
    page.wait_for_selector(".status-ok")
    assert "always reachable" in page.inner_text("dl")

    page.goto("/owner/offerings/new")
    page.select_option("select[name=cloud]", label="Lab cloud")
    page.fill("input[name=name]", "Night shift")
    for field, value in {
        "vcpus": "8",
        "ram_mib": "16384",
        "disk_gb": "100",
        "bandwidth_mbps": "1000",
        "grid_seconds": "60",
        "min_length_seconds": "90",
        "max_length_seconds": "3600",
    }.items():
        page.fill(f"input[name={field}]", value)
    page.fill("input[name=allowed_images_text]", "ubuntu-24.04, debian-12")
    page.click("main button:has-text('Save')")
    # The portal shows the rule that was broken, on the field, and keeps the input.
    assert "is not a multiple of the 60-second grid" in page.inner_text("main form")
    page.fill("input[name=min_length_seconds]", "120")
    page.click("main button:has-text('Save')")
    page.wait_for_selector("h1:has-text('Night shift')")

    page.fill("#windows input[name=start_time]", "22:00")
    page.fill("#windows input[name=end_time]", "06:00")
    page.click("#windows button:has-text('Add window')")
    page.wait_for_selector("#windows td:has-text('(next day)')")

    page.click("text=Add a price")
    page.select_option("select[name=profile]", label="Small")
    page.select_option("select[name=model]", "fixed")
    page.fill("input[name=price_per_unit]", "0.05")
    page.click("main button:has-text('Save')")
    page.wait_for_selector("td:has-text('0.05 USD')")
    page.click("button:has-text('Publish')")
    page.wait_for_selector(".status-published")
    assert Offering.objects.get(name="Night shift").status == "published"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "owner-offering.png"), full_page=True)

    renter_context = browser.new_context(base_url=live_server.url)
    renter_page = renter_context.new_page()
    renter_page.set_default_timeout(30_000)
    log_in(renter_page, "rita@example.test")
    renter_page.goto("/offerings/")
    assert "Night shift" in renter_page.inner_text("#results")
    renter_page.fill("input[name=cpu]", "16")  # more than Small has: filtered out in place
    renter_page.click("button:has-text('Filter')")
    renter_page.wait_for_selector("#results td:has-text('No published offering matches')")
    renter_page.fill("input[name=cpu]", "1")
    renter_page.click("button:has-text('Filter')")
    renter_page.wait_for_selector("#results a:has-text('Night shift')")
    # A refused filter, in place too: its error beside it, the one its control names.
    renter_page.fill("input[name=cpu]", "0")
    renter_page.click("button:has-text('Filter')")
    renter_page.wait_for_selector("#id_cpu[aria-invalid=true]")
    assert renter_page.get_attribute("#id_cpu", "aria-describedby") == "id_cpu_error"
    assert "greater than or equal to 1" in renter_page.inner_text("label[for=id_cpu] #id_cpu_error")
    renter_page.fill("input[name=cpu]", "1")
    renter_page.click("button:has-text('Filter')")
    renter_page.wait_for_selector("#id_cpu_error", state="detached")  # accepted: the error is gone
    assert renter_page.get_attribute("#id_cpu", "aria-invalid") is None
    assert "Night shift" in renter_page.inner_text("#results")
    renter_page.screenshot(path=str(SHOTS / "renter-browse.png"), full_page=True)
    # The renter is refused in the owner portal.
    response = renter_page.goto("/owner/")
    assert response.status == 403
    renter_context.close()
