"""Real Chromium in Tokyo (issue 15 item 1): the browser's zone becomes the user's, from an external
script under the Content-Security-Policy, and the next pages show times in it, named."""

from __future__ import annotations

import time

import pytest

from accounts.models import User
from tests import factories
from tests.browser.test_csp import _watch
from tests.browser.test_portals import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _zone(email: str, wait: float = 10.0) -> str:
    deadline = time.monotonic() + wait
    while True:
        zone = User.objects.get(email=email).timezone
        if zone or time.monotonic() > deadline:
            return zone
        time.sleep(0.1)


@pytest.fixture
def tokyo_page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_the_browsers_zone_is_taken_and_shown(tokyo_page):
    page = tokyo_page
    user = factories.renter(email="taro@example.test")
    assert user.timezone == ""
    violations = _watch(page)
    log_in(page, user.email)
    assert _zone(user.email) == "Asia/Tokyo"
    page.goto("/market/bookings/")
    assert "Times in Asia/Tokyo" in page.inner_text("footer")
    page.goto("/account/time-zone/")
    assert page.input_value("select[name=timezone]") == "Asia/Tokyo"
    assert violations == []


def test_a_chosen_zone_is_never_replaced_by_the_browsers(tokyo_page):
    user = factories.renter(email="hana@example.test")
    user.timezone = "Europe/Paris"
    user.save(update_fields=["timezone"])
    log_in(tokyo_page, user.email)
    tokyo_page.goto("/market/bookings/")
    assert "Times in Europe/Paris" in tokyo_page.inner_text("footer")
    assert User.objects.get(pk=user.pk).timezone == "Europe/Paris"


def test_sign_up_takes_the_browsers_zone(tokyo_page):
    page = tokyo_page
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "kenji@example.test")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/signup" not in url)
    assert User.objects.get(email="kenji@example.test").timezone == "Asia/Tokyo"
