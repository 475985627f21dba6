"""How the permission matrix asks: every URL pattern, filled with the world's ids, as every role.

``routes()`` walks the URL configuration (admin pages apart: test_admin_matrix asks those per
model); ``ask()`` sends one request as one role inside a savepoint that is rolled back, so an
allowed change never leaks into the next cell; ``fingerprint()`` digests every row the market
keeps, to show that a refused request changed nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.matrix.world import World

# Parameters by name; ``pk`` is told apart by the route it is in.
PARAMS = {
    "booking_id": "booking",
    "endpoint_id": "endpoint",
    "delivery_id": "delivery",
    "offering_id": "offering",
    "window_id": "window",
    "policy_id": "policy",
    "year": "year",
    "month": "month",
    "slice_id": "slice",
    "feed_token": "feed",
}
PK_BY_PREFIX = [
    ("account/webhooks/", "endpoint"),
    ("account/notifications/", "notification"),
    ("account/tokens/", "token"),
    ("account/keys/", "key"),
    ("billing/cards/", "card"),
    ("owner/clouds/", "cloud"),
    ("owner/profiles/", "profile"),
    ("market/bookings/", "booking"),
    ("owner/market/bookings/", "booking"),
    ("owner/market/offerings/", "offering"),
    ("owner/offerings/", "offering"),
    ("offerings/", "offering"),
]
# Tables a refused request may touch without changing anything anyone owns: sessions (a login
# page sets a test cookie), and the token's last-used time (tokens are compared without it).
NOT_FINGERPRINTED = {"django_session", "accounts_apitoken"}
BROWSER_PAGES_UNDER_API = {"api/v1/docs"}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    pattern: str  # as Django spells it: "api/v1/bookings/<int:booking_id>"
    callback: Any

    @property
    def is_api(self) -> bool:
        """Asked with a token; the API's docs page is a page for people, asked with a session."""
        return self.pattern.startswith(("api/", "^api/")) and self.pattern not in BROWSER_PAGES_UNDER_API

    def methods(self) -> list[str]:
        """GET and POST everywhere (a page that takes no POST must refuse it); an API view's other
        methods where it has them."""
        cls = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        extra = [m for m in ("put", "patch", "delete") if cls is not None and self.is_api and hasattr(cls, m)]
        return ["get", "post", *extra]


def routes() -> Iterator[Route]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield Route(prefix + str(p.pattern), p.callback)

    for route in walk(get_resolver().url_patterns, ""):
        if not route.pattern.startswith("admin/"):
            yield route


def fill(route: Route, world: World) -> str:
    """The path to ask: each parameter is one of the world's objects (the renter's booking, the
    owner's offering...), a regex group (allauth's keys) a value that matches nothing."""
    pattern = route.pattern
    if pattern == "^api/":
        return "/api/v1/no-such-endpoint"
    if pattern.startswith("accounts/^") or "(?P<" in pattern:
        pattern = re.sub(r"\(\?P<\w+>[^)]*\)", "x0-set", pattern)
        return "/" + pattern.replace("accounts/^", "accounts/").rstrip("$")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        key = PARAMS.get(name)
        if name == "profile_id":  # a priced profile in an offering's pricing or prices, else the owner's own profile
            key = "small" if "/pricing/" in pattern or "/prices/" in pattern else "profile"
        if key is None:
            key = next((k for prefix, k in PK_BY_PREFIX if pattern.startswith(prefix)), None)
        if key is None:
            raise KeyError(f"the matrix does not know what to put in <{name}> of {route.pattern}")
        return str(world.ids[key])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, pattern)


def clients(world: World) -> dict[tuple[str, bool], Any]:
    """For each role, as the API sees it (a bearer token with every scope the user may hold) or as
    the portal does (a signed-in session): a function giving a fresh client for one cell. Each cell
    gets its own, with the session's cookie as it was when the role signed in, so a cell that signs
    out (or whose response sets a cookie) cannot change who asks in the next; the session row itself
    comes back with the cell's rollback."""
    made: dict[tuple[str, bool], Any] = {}
    for role, user in world.users.items():
        cookies = None
        if user is not None:
            signed_in = Client()
            signed_in.force_login(user)
            cookies = signed_in.cookies
        for api in (False, True):
            made[role, api] = _fresh(cookies, world.tokens.get(role), api=api)
    return made


def _fresh(cookies: Any, token: str | None, *, api: bool) -> Any:
    def make() -> Client:
        if token is None:
            return Client(raise_request_exception=False)
        if api:
            return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")
        c = Client(raise_request_exception=False)
        for name, morsel in cookies.items():
            c.cookies[name] = morsel.value
        return c

    return make


def code(response: Any, *, api: bool) -> str:
    """A cell's outcome: the status, or "L" for a portal page that sends the caller to sign in."""
    location = response.get("Location", "")
    if response.status_code == 302 and "/accounts/login/" in location and not api:
        return "L"
    return str(response.status_code)


def fingerprint() -> dict[str, str]:
    """Per table, the rows this transaction has inserted, updated and deleted so far (PostgreSQL's
    pg_stat_xact_user_tables, which a savepoint's rollback does not reset: an attempted write shows
    too). Tokens are compared by what matters (revoked, expiry, scopes), not their last-use time."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del FROM pg_stat_xact_user_tables"
        )
        digest = {name: value for name, value in cursor.fetchall() if name not in NOT_FINGERPRINTED}
        cursor.execute("SELECT id, revoked_at, expires_at, scopes FROM accounts_apitoken ORDER BY id")
        digest["accounts_apitoken (but last use)"] = repr(cursor.fetchall())
    return digest


def ask(c: Client, method: str, path: str) -> tuple[Any, dict[str, str], dict[str, str]]:
    """One request, rolled back after; the fingerprints before and after it."""
    sid = transaction.savepoint()
    try:
        before = fingerprint()
        kwargs = {"content_type": "application/json", "data": "{}"} if method in ("put", "patch") else {}
        response = getattr(c, method)(path, **kwargs)
        after = fingerprint()
    finally:
        transaction.savepoint_rollback(sid)
    return response, before, after


def ask_raw(c: Client, path: str, body: str, content_type: str) -> tuple[Any, dict[str, str], dict[str, str]]:
    """A POST of a body as given (a form's fields, repeated or not), rolled back after, with the
    fingerprints before and after it."""
    sid = transaction.savepoint()
    try:
        before = fingerprint()
        response = c.post(path, body, content_type=content_type)
        after = fingerprint()
    finally:
        transaction.savepoint_rollback(sid)
    return response, before, after
