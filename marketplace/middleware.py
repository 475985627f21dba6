"""Cheap guards in front of every view.

``ForwardedProtoGuardMiddleware`` drops ``X-Forwarded-Proto`` unless the connection's peer is one of
TRUSTED_PROXIES, so SECURE_PROXY_SSL_HEADER ("this came over https") is believed from the proxies
only. ``IdleSessionTimeoutMiddleware`` logs out a session left unused for
MARKETPLACE_SESSION_IDLE_SECONDS.

``InputGuardMiddleware`` refuses a request whose path, query or form/JSON body carries a NUL
character (PostgreSQL cannot store one in text: a NUL reaching a query is a 500), with a 400 that
says so, before any view or form sees it: one check for every field, raw ``request.GET`` reads
included.

``AnonymousRateLimitMiddleware`` limits anonymous requests per client address with a fixed-window
counter in the Django cache (Redis in production): MARKETPLACE_ANON_RATE_REQUESTS per
MARKETPLACE_ANON_RATE_SECONDS (0 requests turns it off), then a 429 with Retry-After until the
window ends. Signed-in users are not counted (they are limited per account elsewhere), nor are API
calls that carry credentials (the API authenticates them itself), nor the paths in
MARKETPLACE_ANON_RATE_EXEMPT (static files, the health check, Stripe's webhooks). It adds no
database query, and one cache round trip per anonymous request only.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.template.loader import render_to_string

from marketplace.lib.api import error_body
from marketplace.lib.client_ip import client_ip, parse_address, trusted_proxies
from marketplace.lib.inputs import NUL_MESSAGE

log = logging.getLogger(__name__)

# A JSON string escape \u0000 that is not itself an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def _refuse(request: HttpRequest, status: int, code: str, message: str, **extra: Any) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message, **extra), status=status)
    page = render_to_string(f"{status}.html", {"reason": message, **extra}, request=request)
    return HttpResponse(page, status=status)


def _carries_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        return True
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        body = request.body
        return b"%00" in body or b"\x00" in body
    if content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        return b"\x00" in body or bool(_JSON_NUL.search(body))
    return False  # multipart: Django's form fields refuse NUL in text (ProhibitNullCharactersValidator)


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _carries_nul(request):
            return _refuse(request, 400, "invalid", NUL_MESSAGE)
        return self.get_response(request)


def client_key(request: HttpRequest) -> str:
    """The address the limit counts against: the client as the audit trail and allauth see it
    (marketplace.lib.client_ip: forwarded headers only from TRUSTED_PROXIES), an IPv6 address by
    its /64 (one host holds a whole /64)."""
    raw = client_ip(request) or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64"
    return str(address)


def _hit(key: str, window: int) -> int:
    """Count one request in the window's counter; the count so far."""
    try:
        return int(cache.incr(key))
    except ValueError:  # no counter yet in this window
        if cache.add(key, 1, timeout=window + 1):
            return 1
        return int(cache.incr(key))


class AnonymousRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        allowed = int(settings.MARKETPLACE_ANON_RATE_REQUESTS)
        if allowed <= 0:
            return None
        path = request.path_info
        if path.startswith(tuple(settings.MARKETPLACE_ANON_RATE_EXEMPT)):
            return None
        if path.startswith("/api/") and "HTTP_AUTHORIZATION" in request.META:
            return None  # a token call: DRF authenticates it (or answers 401)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return None
        window = int(settings.MARKETPLACE_ANON_RATE_SECONDS)
        now = time.time()
        slot = int(now // window)
        key = f"anon-rate:{client_key(request)}:{slot}"
        try:
            count = _hit(key, window)
        except Exception:  # a cache outage must not take the site down: let the request through
            log.warning("anonymous rate limit: cache unavailable, request let through", exc_info=True)
            return None
        if count <= allowed:
            return None
        retry_after = max(1, math.ceil((slot + 1) * window - now))
        response = _refuse(
            request,
            429,
            "rate_limited",
            f"Too many requests from your address: try again in {retry_after} s, or log in.",
            retry_after=retry_after,
        )
        response["Retry-After"] = str(retry_after)
        return response


def peer_is_trusted_proxy(request: HttpRequest) -> bool:
    """The connection's peer (REMOTE_ADDR) is one of TRUSTED_PROXIES."""
    peer = parse_address(request.META.get("REMOTE_ADDR"))
    return peer is not None and any(peer.version == n.version and peer in n for n in trusted_proxies())


class ForwardedProtoGuardMiddleware:
    """X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER) counts only when a trusted proxy sent it: from
    anyone else it is removed before SecurityMiddleware or request.is_secure() read it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


_IDLE_KEY = "_marketplace_seen_at"
_TOUCH_EVERY_SECONDS = 60


def _is_background_refresh(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("X-Background-Refresh") == "1"


class IdleSessionTimeoutMiddleware:
    """A signed-in session unused for MARKETPLACE_SESSION_IDLE_SECONDS is logged out.

    The time of the last request is kept in the session and written at most once a minute (which
    also moves the session's expiry, SESSION_COOKIE_AGE, on), not on every request. A page's own
    background refresh (an htmx poll sending ``X-Background-Refresh``) is served but is not activity:
    a tab left open on a polling page still times out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            seen = request.session.get(_IDLE_KEY)
            idle = int(settings.MARKETPLACE_SESSION_IDLE_SECONDS)
            if isinstance(seen, (int, float)) and now - seen > idle:
                logout(request)  # flushes the session; the view sees an anonymous visitor (login page)
            elif _is_background_refresh(request):
                pass
            elif not isinstance(seen, (int, float)) or now - seen >= _TOUCH_EVERY_SECONDS:
                request.session[_IDLE_KEY] = now
        return self.get_response(request)


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session ended (idle timeout, logout in another tab) is sent to the login
    page as a whole page (``HX-Redirect``), instead of htmx swapping the login form into the fragment
    that polled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") == "true"
            and response.status_code == 302
            and urlsplit(response.get("Location", "")).path == resolve_url(settings.LOGIN_URL)
        ):
            redirect = HttpResponse(status=200)
            redirect["HX-Redirect"] = response["Location"]
            return redirect
        return response
