"""Real Chromium under the Content-Security-Policy (issue 14 item 6): the pages' scripts still work (the
card page with Stripe.js, the market filter, htmx) and the browser reports no violation."""

from __future__ import annotations

import pytest

from billing.models import PaymentMethod
from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every CSP violation the browser reports on this page (console errors and the DOM event)."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return found


def test_the_card_page_runs_stripe_js_under_the_policy(page, stripe_server, settings):
    settings.STRIPE_JS_URL = f"{stripe_server.url}/js.stripe.com/v3/"  # localstripe's Stripe.js, as make run
    renter = factories.renter(email="cara@example.test")
    violations = _watch(page)
    log_in(page, renter.email)
    response = page.goto("/billing/cards/add")
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' {stripe_server.url}" in policy and "unsafe" not in policy
    page.wait_for_selector("#card-element input[placeholder=number]")
    for field, value in (("number", "4242424242424242"), ("exp_month", "12"), ("exp_year", "34")):
        page.fill(f"#card-element input[placeholder={field}]", value)
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "10115")
    page.click("#card-form button[type=submit]")
    page.wait_for_url("**/billing/**")
    page.wait_for_selector("text=added")
    assert PaymentMethod.objects.filter(user=renter).count() == 1
    assert violations == []


def test_pages_with_htmx_and_the_market_filter_work_without_violations(page, live_server):
    owner = factories.owner(email="omar@example.test")
    violations = _watch(page)
    log_in(page, owner.email)
    for url in ("/", "/offerings/", "/owner/", "/account/activity/", "/accounts/2fa/"):
        assert page.goto(url).status < 400, url
    page.goto("/owner/market/")
    page.select_option("select[name=state]", index=1)  # the select submits its form (static/js/autosubmit.js)
    page.wait_for_url("**state=*")
    assert violations == []
