"""The Content-Security-Policy header on every page (issue 14 item 6).

Scripts and styles come from this site only (plus Stripe.js and its frames), never inline: the
templates hold no inline <script> (data goes in ``json_script`` blocks, which browsers do not run)
and no ``on…=`` attributes or ``style=`` attributes; htmx runs with ``allowEval`` off and its
indicator styles in static/css (templates/base.html's htmx-config). Images may be ``data:`` URIs
(Pico CSS's icons, allauth's TOTP QR code). The Stripe origins follow STRIPE_JS_URL and
STRIPE_API_BASE, so localstripe in tests and the demo is allowed exactly as js.stripe.com and
api.stripe.com are in production.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
# Stripe's documented needs for Stripe.js and Elements (3-D Secure frames come from hooks.stripe.com).
_STRIPE_FRAMES = ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com")
_STRIPE_CONNECT = ("https://api.stripe.com",)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=8)
def _build(stripe_js_url: str, stripe_api_base: str, report_uri: str) -> str:
    stripe_js = [o for o in (_origin(stripe_js_url),) if o]
    stripe_api = [o for o in (_origin(stripe_api_base),) if o]
    script = ["'self'", *stripe_js]
    frames = [*stripe_js, *_STRIPE_FRAMES]
    connect = ["'self'", *stripe_js, *stripe_api, *_STRIPE_CONNECT]
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "https://*.stripe.com"],
        "font-src": ["'self'"],
        "connect-src": connect,
        "frame-src": frames,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # Forms post here; Stripe's hosted onboarding is reached by redirect from a form post.
        "form-action": ["'self'", *stripe_api, "https://connect.stripe.com"],
        "frame-ancestors": ["'none'"],
    }
    if report_uri:
        directives["report-uri"] = [report_uri]
    return "; ".join(f"{name} {' '.join(dict.fromkeys(values))}" for name, values in directives.items())


def policy() -> str:
    """The header's value under the current settings."""
    return _build(
        str(getattr(settings, "STRIPE_JS_URL", "")),
        str(getattr(settings, "STRIPE_API_BASE", "")),
        str(getattr(settings, "MARKETPLACE_CSP_REPORT_URI", "")),
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(settings, "MARKETPLACE_CSP", True) or HEADER in response:
            return response
        if settings.DEBUG and response.status_code >= 500:
            return response  # Django's technical error page is inline script and style
        response[HEADER] = policy()
        return response
