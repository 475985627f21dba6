from __future__ import annotations

import re

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from marketplace import dashboard
from marketplace.lib.api import error_body, server_error_response


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


def _check_broker() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        return True, "ok (filesystem transport)"
    try:
        from kombu import Connection

        # The broker's TLS options as Celery's: without them kombu takes rediss:// with no certificate check.
        ssl = getattr(settings, "CELERY_BROKER_USE_SSL", None) or False
        with Connection(url, connect_timeout=2, ssl=ssl) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    db_ok, db_msg = _check_database()
    broker_ok, broker_msg = _check_broker()
    ok = db_ok and broker_ok
    return JsonResponse(
        {"status": "ok" if ok else "degraded", "database": db_msg, "broker": broker_msg},
        status=200 if ok else 503,
    )


def home(request: HttpRequest) -> HttpResponse:
    """The landing page: the public introduction for visitors; for a signed-in user, the dashboard of
    each role they have (panels the apps register in marketplace.dashboard)."""
    sections: list[dict[str, object]] = []
    if request.user.is_authenticated:
        titles = {"renter": "Renting", "owner": "Selling"}
        for role in dashboard.roles_of(request.user):
            sections.append({"role": role, "title": titles[role], "panels": dashboard.panels_for(request, role)})
        shared = dashboard.panels_for(request, "everyone")
        if shared:
            sections.append({"role": "everyone", "title": "Updates", "panels": shared})
    return render(request, "home.html", {"sections": sections})


# ---- refusals: 403 and 404 in the site's layout (JSON under /api/) ------------------------------

_NO_MATCH = re.compile(r"^No (\w+) matches the given query\.$")  # get_object_or_404's message


def _message(exception: Exception | None) -> str:
    arg = exception.args[0] if exception is not None and exception.args else ""
    return arg if isinstance(arg, str) else ""  # a Resolver404 carries a dict of tried patterns


def _not_found_reason(request: HttpRequest, exception: Exception | None) -> str:
    message = "" if isinstance(exception, Resolver404) else _message(exception)
    named = _NO_MATCH.match(message)
    if named:
        thing = re.sub(r"(?<!^)(?=[A-Z])", " ", named.group(1)).lower()
        return f"That {thing} does not exist, or it is not available to you."
    return message or f"There is no page at {request.path}."


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _not_found_reason(request, exception)
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", reason), status=404)
    return render(request, "404.html", {"reason": reason}, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _message(exception) or "Your account may not open this page."
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("forbidden", reason), status=403)
    user = getattr(request, "user", None)
    owner_only = "owner" in reason.lower() and not getattr(user, "is_owner", False)
    return render(request, "403.html", {"reason": reason, "owner_only": owner_only}, status=403)


@csrf_exempt  # a POST to a mistyped path is a 404, not the CSRF failure page
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any path under /api/ that no endpoint matches (the last URL pattern): a JSON 404, also with
    DEBUG on, where Django's own page would list every URL pattern."""
    return JsonResponse(error_body("not_found", f"There is no API endpoint at {request.path}."), status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("invalid", "The request could not be understood."), status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return server_error_response(request)
    return defaults.server_error(request)
