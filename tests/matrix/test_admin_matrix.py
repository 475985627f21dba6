"""The admin's side of the permission matrix (issue 14, item 10): for every model registered in the
admin, its list, its add form and one object's change and history pages (where the world holds
one), asked with GET and POST as every role, each asserted by status and watched for writes.

Expected: anonymous callers and signed-in users who are not staff are sent to the admin's login
(which is allauth's, and refuses them there with a 403); staff without permissions see the admin's
index but get a 403 on every model page and change nothing; a superuser (with TOTP) sees every
page, and an empty POST to a form is answered with the form and its errors (200), writing nothing.
"""

from __future__ import annotations

import contextlib

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from tests.market_fixtures import _frozen_calendar
from tests.matrix import cells, world

__all__ = ["_frozen_calendar"]

pytestmark = pytest.mark.django_db

NOT_STAFF = ("anonymous", "renter", "other_renter", "owner", "other_owner")


def _pages() -> list[tuple[str, str]]:
    pages = [("index", reverse("admin:index"))]
    for model in admin.site._registry:
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        pages.append((f"{label} list", reverse(f"admin:{label}_changelist")))
        with contextlib.suppress(NoReverseMatch):
            pages.append((f"{label} add", reverse(f"admin:{label}_add")))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append((f"{label} change", reverse(f"admin:{label}_change", args=[first.pk])))
            pages.append((f"{label} history", reverse(f"admin:{label}_history", args=[first.pk])))
    return pages


def _expected(page: str, role: str, method: str) -> set[str]:
    if role in NOT_STAFF:
        return {"302"}  # to the admin's login, which sends them on (asserted below)
    if role == "staff_without_permission":
        return {"200"} if page == "index" else {"403"}  # the index (its POST too: a page) lists nothing they may open
    if page.endswith(" add") and method == "post":
        return {"200", "403"}  # a form with its errors; 403 where the admin allows no adding (read-only models)
    if method == "post":
        # A list's POST is an action (none chosen: back to the list); a change form with nothing
        # filled in answers with its errors; the index and history pages take no POST.
        return {"200", "302", "403", "405"}
    return {"200", "403"} if page.endswith((" add", " change")) else {"200"}


def test_every_admin_page_as_every_role(settings, _frozen_calendar) -> None:  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0
    w = world.build()
    clients = cells.clients(w)
    pages = _pages()
    wrong, asked = [], 0
    for page, path in pages:
        for method in ("get", "post"):
            for role in world.ROLES:
                response, before, after = cells.ask(clients[role, False](), method, path)
                asked += 1
                outcome = str(response.status_code)
                wrote = sorted(t for t in before if before[t] != after[t])
                if outcome not in _expected(page, role, method):
                    wrong.append(f"{method.upper()} {path} ({page}) as {role}: {outcome}")
                if role in NOT_STAFF and not response.get("Location", "").startswith("/admin/login/"):
                    wrong.append(f"{method.upper()} {path} as {role}: sent to {response.get('Location')!r}")
                if wrote:
                    wrong.append(f"{method.upper()} {path} ({page}) as {role} ({outcome}) changed {wrote}")
    print(f"\nadmin matrix: {asked} cells over {len(pages)} pages x 2 methods x {len(world.ROLES)} roles")
    assert not wrong, "\n".join(wrong)
    assert len(pages) > 60  # every registered model's pages, not a few


def test_the_admin_login_sends_on_or_refuses(db) -> None:  # type: ignore[no-untyped-def]
    """Where the matrix's 302s go: anonymous callers to allauth's login (rate limits, MFA), signed-in
    users who are not staff a 403 with the reason."""
    w = world.build()
    clients = cells.clients(w)
    anonymous = clients["anonymous", False]().get("/admin/login/?next=/admin/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    for role in ("renter", "owner"):
        refused = clients[role, False]().get("/admin/login/?next=/admin/")
        assert refused.status_code == 403
        assert b"may not use the admin" in refused.content
