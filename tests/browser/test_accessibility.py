"""Real Chromium with axe-core (vendored): the main pages of both portals, on demo data, have no
serious or critical accessibility violation (contrast, labels, names of buttons and links, ARIA),
and the keyboard reaches the navigation, its account menu and each page's primary form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from owners.models import Offering

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
DEMO_PASSWORD = "demo-pass-2026"  # demo.management.commands.seed_demo's published password
RENTER, OWNER = "carol@demo.local", "alice@demo.local"
RENTER_PAGES = [
    "/",
    "/offerings/",
    "/market/slices/?cpu=1&ram=1&duration=1h",
    "/market/bookings/",
    "/billing/",
    "/account/notifications/",
    "/account/settings/",
]
RENTER_MORE = [
    "/market/slices/?cpu=-1&duration=soon",  # refused input: errors shown
    "/account/keys/",
    "/account/tokens/",
    "/account/webhooks/",
    "/account/activity/",
    "/account/notifications/preferences/",
    "/billing/statement",
]
OWNER_PAGES = ["/", "/owner/", "{offering}", "/owner/market/"]
OWNER_MORE = ["/owner/offerings/new", "/owner/profiles/", "/billing/owner/", "{offering}standby"]


@pytest.fixture
def demo(settings, live_server):  # type: ignore[no-untyped-def]
    settings.DEBUG = True  # seed_demo runs only with DEBUG on, as `make run` has it
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - closed with the process
    settings.DEBUG = False
    return {"offering": Offering.objects.filter(owner__email=OWNER).order_by("pk").first()}


@pytest.fixture
def axe_page(browser, live_server):  # type: ignore[no-untyped-def]
    """A page whose context lets axe's script in: the site's CSP forbids inline scripts, which is how
    Playwright injects one (the pages' own scripts still run under the policy)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def log_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical violations on the page, one line per rule with the elements."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at " + json.dumps([n["target"] for n in v["nodes"]][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_pages(page, urls: list[str]) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    found = {}
    for url in urls:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("networkidle")
        if problems := serious_violations(page):
            found[url] = problems
    return found


def test_renter_pages_have_no_serious_accessibility_violation(axe_page, demo):
    page = axe_page
    assert User.objects.filter(email=RENTER).exists()
    log_in(page, RENTER)
    assert check_pages(page, RENTER_PAGES + RENTER_MORE) == {}
    # A refused form: each error beside its field, named by the field's aria-describedby.
    page.goto("/account/settings/")
    page.fill("input[name=spend_limit]", "-5")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#id_spend_limit[aria-invalid=true]")
    assert "negative" in page.inner_text("#" + error_id_of(page, "#id_spend_limit"))
    assert serious_violations(page) == []
    # The slice search too: each refused filter's message is the one its control names, beside it.
    page.goto("/market/slices/?cpu=-1&duration=soon")
    assert "greater than or equal to 1" in page.inner_text("label[for=id_cpu] #" + error_id_of(page, "#id_cpu"))
    assert "not a length" in page.inner_text("label[for=id_duration] #" + error_id_of(page, "#id_duration"))
    # A result's price history opened in place (its range form, chart and table) keeps the page clean.
    page.goto("/market/slices/?cpu=1&ram=1&duration=1h")
    page.locator("tr.price-history-row summary").first.click()
    page.locator("[data-testid=price-history-panel]").first.wait_for()
    assert serious_violations(page) == []
    # Pico follows the system's dark scheme: the same pages keep their contrast there.
    page.emulate_media(color_scheme="dark")
    assert check_pages(page, RENTER_PAGES) == {}


def test_owner_pages_have_no_serious_accessibility_violation(axe_page, demo):
    page = axe_page
    log_in(page, OWNER)
    offering = f"/owner/offerings/{demo['offering'].pk}/"
    assert check_pages(page, [u.format(offering=offering) for u in OWNER_PAGES + OWNER_MORE]) == {}
    page.goto("/owner/offerings/new")
    page.click("main form button[type=submit]")  # nothing filled in: every required field refused
    page.wait_for_selector("[data-testid=form-errors]")
    assert "This field is required." in page.inner_text("#" + error_id_of(page, "#id_name"))
    assert serious_violations(page) == []
    page.emulate_media(color_scheme="dark")
    assert check_pages(page, [u.format(offering=offering) for u in OWNER_PAGES]) == {}


def error_id_of(page, field: str) -> str:  # type: ignore[no-untyped-def]
    """The id of the error message a refused field's aria-describedby names."""
    described = (page.get_attribute(field, "aria-describedby") or "").split()
    return next(i for i in described if i.endswith("_error"))


def test_the_login_and_landing_pages_have_none_either(axe_page, demo):
    page = axe_page
    assert check_pages(page, ["/", "/accounts/login/", "/offerings/"]) == {}


def tab_to(page, predicate: str, limit: int = 60) -> bool:  # type: ignore[no-untyped-def]
    """Press Tab until the focused element satisfies the JS ``predicate`` (given ``el``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({predicate}); }}"):
            return True
    return False


def test_the_keyboard_reaches_the_navigation_the_account_menu_and_the_primary_form(page, demo):
    log_in(page, RENTER)
    page.goto("/account/settings/")
    # The first Tab offers the skip link; the main navigation's links follow, in order.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    reached = []
    for label in ("Offerings", "Find slices", "My bookings", "Notifications"):
        assert tab_to(page, f"el.tagName === 'A' && el.textContent.trim().startsWith({json.dumps(label)})"), label
        reached.append(label)
        # The focus is visible: an outline drawn around the link.
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert reached == ["Offerings", "Find slices", "My bookings", "Notifications"]
    # The account menu opens from the keyboard and its links are reachable.
    assert tab_to(page, "el.tagName === 'SUMMARY'")
    page.keyboard.press("Enter")
    assert page.evaluate("document.querySelector('details.dropdown').open") is True
    assert tab_to(page, "el.tagName === 'A' && el.textContent.trim() === 'Billing'", limit=15)
    page.keyboard.press("Enter")
    page.wait_for_url("**/billing/")
    # On a form page, Tab reaches the form's fields and its submit button.
    page.goto("/account/settings/")
    assert tab_to(page, "el.name === 'spend_limit'")
    assert tab_to(page, "el.tagName === 'BUTTON' && el.type === 'submit' && el.closest('main')", limit=10)
    page.keyboard.type("12.50")
    page.keyboard.press("Enter")  # submits the form from its field
    page.wait_for_selector("text=Spend limit saved.")
