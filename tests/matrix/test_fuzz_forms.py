"""Every form of the portals, fuzzed (issue 14, item 10): each page the matrix lets a role open is
fetched as that role, every <form> on it is read (its action and its fields), and generated values
are posted to it, with its hidden fields: dates from year 1 to 9999, integers far beyond any column,
NUL characters, odd decimals, long and empty strings, repeated fields. No answer may be a 500; a
refusal (400) writes nothing but the audit trail and its idempotency record; a role the matrix
refuses on that route writes nothing at all.

The forms come from the pages themselves, so a form added to any page is fuzzed without a line here.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.market_fixtures import _frozen_calendar
from tests.matrix import cells, world
from tests.matrix.test_permission_matrix import MATRIX
from tests.test_fuzz_inputs import values

__all__ = ["_frozen_calendar"]

pytestmark = pytest.mark.django_db

# Who opens a page to find its forms: the first role in this order the matrix lets in.
OPENERS = ("renter", "owner", "staff", "anonymous")
SKIP_ACTIONS = ("/accounts/logout/",)  # signing out is not input
# What a refused submission may still leave: the audit trail (a failed re-authentication is an
# authentication event) and the idempotency key that answers a retried refusal the same way.
RECORDS_OF_A_REFUSAL = {"audit_domainevent", "auditlog_logentry", "accounts_idempotencykey"}


class Forms(HTMLParser):
    """The POST forms of a page: (action, [field names]) with their hidden fields' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self._current = {"action": a.get("action") or "", "fields": [], "hidden": {}}
            self.forms.append(self._current)
        elif tag in ("input", "select", "textarea", "button") and self._current is not None and a.get("name"):
            name = a["name"] or ""
            if a.get("type") == "hidden":
                self._current["hidden"][name] = a.get("value") or ""
            if name != "csrfmiddlewaretoken":
                self._current["fields"].append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _forms(w: world.World, clients: dict[tuple[str, bool], Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(role, action path, form) for every POST form on every page some role may open."""
    found: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    for route in cells.routes():
        if route.is_api or route.pattern.startswith("accounts/^"):
            continue
        row = MATRIX.get(f"GET {route.pattern}", "").split()
        role = next((r for r in OPENERS if row and row[world.ROLES.index(r)].rstrip("*") == "200"), None)
        if role is None:
            continue
        page = cells.fill(route, w)
        response, _, _ = cells.ask(clients[role, False](), "get", page)
        parser = Forms()
        parser.feed(response.content.decode(errors="replace"))
        for form in parser.forms:
            action = urljoin(page, form["action"]) if form["action"] else page
            if action.startswith(SKIP_ACTIONS) or not form["fields"]:
                continue
            found.setdefault((role, action), (role, action, form))
    return list(found.values())


def _may_write(action: str, role: str) -> bool:
    """Whether this role may change something by posting here: the matrix's cell for the form's
    route, or (posting from the page) the role that opened the page, who owns what it shows."""
    from django.urls import resolve

    match = resolve(action)
    pattern = next(
        (r.pattern for r in cells.routes() if r.callback is match.func and f"POST {r.pattern}" in MATRIX), None
    )
    row = MATRIX.get(f"POST {pattern}", "").split()
    if not row:
        return False
    cell = row[world.ROLES.index(role)]
    return cell.endswith("*") or cell.rstrip("*") in ("200", "302")


def test_no_generated_form_input_gives_a_server_error(settings, _frozen_calendar) -> None:  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    w = world.build()
    clients = cells.clients(w)
    forms = _forms(w, clients)
    failures: list[str] = []
    for role, action, form in forms:
        _fuzz(clients[role, False], role, action, form, _may_write(action, role), failures)()
    print(f"\nfuzzed {len(forms)} forms")
    assert len(forms) >= 30, [a for _, a, _ in forms]  # the portals' forms, not a handful
    assert not failures, "\n".join(failures[:30])


def _fuzz(client: Any, role: str, action: str, form: dict[str, Any], may_write: bool, failures: list[str]) -> Any:
    @settings_for_forms
    @given(data=st.lists(st.tuples(st.sampled_from(form["fields"]), values), max_size=8))
    def post(data: list[tuple[str, str]]) -> None:
        body = urlencode(list(form["hidden"].items()) + data)
        response, before, after = cells.ask_raw(client(), action, body, "application/x-www-form-urlencoded")
        if response.status_code >= 500:
            failures.append(f"POST {action} as {role} {data!r} -> {response.status_code}")
        wrote = sorted(t for t in before if before[t] != after[t] and t not in RECORDS_OF_A_REFUSAL)
        if wrote and (response.status_code == 400 or not may_write):
            failures.append(f"POST {action} as {role} {data!r} -> {response.status_code} wrote {wrote}")

    return post


settings_for_forms = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
