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


def test_staff_reach_the_admin_through_allauth_with_their_code_and_approve_a_request(page, live_server):
    import time

    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

    from billing import services
    from billing.models import MoneyOperationRequest
    from tests.factories import PASSWORD

    first = factories.UserFactory(is_staff=True, is_superuser=True, email="first-staff@example.test")
    second = factories.UserFactory(is_staff=True, is_superuser=True, email="second-staff@example.test")
    TOTP.activate(first, generate_totp_secret())
    secret = generate_totp_secret()
    TOTP.activate(second, secret)
    renter = factories.renter(email="rosa@example.test")
    pending = services.money_operation_submit(
        actor=first,
        operation="adjustment",
        params={"user": renter.pk, "account_kind": "renter_balance", "amount": 250_000, "currency": "USD"}
        | {"reason": "Large goodwill credit"},
    ).pending
    violations = _watch(page)
    page.goto("/admin/billing/moneyoperationrequest/")
    page.wait_for_url("**/accounts/login/?next=/admin/billing/moneyoperationrequest/")
    page.fill("input[name=login]", second.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/**")
    page.fill("input[name=code]", format_hotp_value(hotp_value(secret, int(time.time()) // 30)))
    page.click("form button[type=submit]")
    page.wait_for_url("**/admin/billing/moneyoperationrequest/")
    assert "Large goodwill credit" in page.inner_text("#result_list")
    page.check(f"input[name=_selected_action][value='{pending.pk}']")
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    page.wait_for_selector("text=Approved and carried out")
    pending.refresh_from_db()
    assert (pending.state, pending.decided_by_id) == (MoneyOperationRequest.State.EXECUTED, second.pk)
    assert violations == []
