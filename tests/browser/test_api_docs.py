"""The API docs page (/api/v1/docs) in real Chromium: Swagger UI from the vendored files, under the
site's Content-Security-Policy, lists the schema's operations to a signed-in user with no console
error; an anonymous visitor is sent to sign in."""

from __future__ import annotations

import pytest

from tests import factories
from tests.browser.test_portals import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_signed_in_user_reads_the_operations_with_no_console_error(page, live_server):
    renter = factories.renter(email="dora@example.test")
    log_in(page, renter.email)
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = page.goto("/api/v1/docs")
    assert response.status == 200
    assert "unsafe" not in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    for path in ("/api/v1/timeslots", "/api/v1/timeslots/{slice_id}/request", "/api/v1/webhooks/endpoints"):
        assert path in [p.strip().replace("\u200b", "") for p in paths], paths
    assert page.locator(".opblock").count() >= 30

    # An operation opens with its documented error answers.
    page.locator("#operations-timeslots-timeslots_request_create .opblock-summary").click()
    page.wait_for_selector("#operations-timeslots-timeslots_request_create .responses-table")
    statuses = page.locator("#operations-timeslots-timeslots_request_create .response-col_status").all_inner_texts()
    assert {"201", "400", "401", "403", "404", "409", "429"} <= {s.strip() for s in statuses}, statuses

    assert errors == [] and outside == []


def test_an_anonymous_visitor_is_sent_to_sign_in(page, live_server):
    page.goto("/api/v1/docs")
    assert "/accounts/login/" in page.url and "next=/api/v1/docs" in page.url.replace("%2F", "/")
