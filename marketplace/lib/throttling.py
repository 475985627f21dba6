"""Request rates for the REST API: per token (or signed-in user) and per anonymous address.

Fixed-window counters in the Django cache (Redis in production), one ``INCR`` per request, as the
anonymous page limit of marketplace.middleware: over the rate, a 429 whose ``Retry-After`` (header
and body) is the seconds until the window ends. The rates are ``REST_FRAMEWORK
["DEFAULT_THROTTLE_RATES"]`` ("token", "anon": "N/s", "N/m", "N/h", "N/d" or "off"), read at each
request so that a test's settings apply at once.

- ``TokenRateThrottle`` counts a token's requests under the token (two tokens of one user have a
  rate each) and a session's under its user.
- ``AnonRateThrottle`` counts unauthenticated requests under the client's address
  (marketplace.middleware.client_key: the address as the audit trail sees it, an IPv6 host by its
  /64). DRF checks permissions before throttles, so an anonymous call to an endpoint that needs a
  login is answered 401 by DRF and counted by the anonymous page limit (the middleware); this
  throttle covers the public endpoints. Failed token authentications count here too
  (``count_failed_authentication``): guessing tokens is limited per address.

A cache outage lets requests through (logged): a rate limit must not take the API down.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """("N/m") -> (N, 60); None for "off" or no rate. Refuses anything else."""
    if rate is None or rate == "off":
        return None
    number, _, period = rate.partition("/")
    if not number.isdigit() or int(number) < 1 or period not in _PERIODS:
        raise ValueError(f"{rate!r} is not a rate: use N/s, N/m, N/h, N/d or off.")
    return int(number), _PERIODS[period]


def _rate(scope: str) -> tuple[int, int] | None:
    rates: dict[str, str] = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES") or {}
    return parse_rate(rates.get(scope))


def _hit(key: str, window: int) -> int:
    """Count one request in the window's counter; the count so far."""
    try:
        return int(cache.incr(key))
    except ValueError:  # no counter yet in this window
        if cache.add(key, 1, timeout=window + 1):
            return 1
        return int(cache.incr(key))


def _check(scope: str, ident: str, message: str) -> None:
    """Count a request of ``ident`` under ``scope``'s rate; raise Throttled (429) when over it."""
    rate = _rate(scope)
    if rate is None:
        return
    allowed, window = rate
    now = time.time()
    slot = int(now // window)
    try:
        count = _hit(f"api-rate:{scope}:{ident}:{window}:{slot}", window)
    except Exception:
        log.warning("API rate limit: cache unavailable, request let through", exc_info=True)
        return
    if count > allowed:
        wait = max(1, math.ceil((slot + 1) * window - now))
        # DRF adds "Expected available in N seconds."
        raise exceptions.Throttled(wait=wait, detail=f"{message}: at most {allowed} per {_unit(window)}.")


def _unit(window: int) -> str:
    return {1: "second", 60: "minute", 3600: "hour", 86400: "day"}[window]


def _anon_ident(request: Request) -> str:
    from marketplace.middleware import client_key  # the middleware imports this package's api module

    return client_key(request._request if isinstance(request, Request) else request)


class TokenRateThrottle(BaseThrottle):
    """Per API token, or per user for a signed-in session (scope "token")."""

    def allow_request(self, request: Request, view: object) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        token_id = getattr(request.auth, "token_id", None)
        if token_id is not None:
            _check("token", f"t{token_id}", "Too many requests with this API token")
        else:
            _check("token", f"u{user.pk}", "Too many requests from your account")
        return True


class AnonRateThrottle(BaseThrottle):
    """Per client address, for requests without credentials (scope "anon")."""

    def allow_request(self, request: Request, view: object) -> bool:
        user = request.user
        if user and user.is_authenticated:
            return True
        _check("anon", _anon_ident(request), "Too many requests from your address")
        return True


def count_failed_authentication(request: Request) -> None:
    """A request with a token that is not one counts against its address's anonymous rate."""
    _check("anon", _anon_ident(request), "Too many requests with invalid credentials from your address")
