"""The request's audit context: its correlation id, its client's address and its user.

``RequestContextMiddleware`` binds them for ``audit.services.record_event``; ``AuditlogMiddleware``
replaces django-auditlog's own, which believed any ``X-Forwarded-For`` a client wrote and stored
unchecked headers (a malformed address or port, or a correlation id over 255 characters, made the
history insert fail with a 500 after the change itself had been saved).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from audit import context
from marketplace.lib import client_ip

# Headers a client or proxy may use to name the request; the first one present is taken.
REQUEST_ID_HEADERS = ("X-Request-ID", "X-Correlation-ID")
REQUEST_ID_MAX = 64  # DomainEvent.request_id's length
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def _refuse(request: HttpRequest, header: str) -> HttpResponse:
    message = f"{header} must be 1 to {REQUEST_ID_MAX} letters, digits, '.', '_', ':' or '-'."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID) and binds it for the audit log.

    A client's own id (X-Request-ID or X-Correlation-ID) is kept when it is well formed; a malformed or
    over-long one is refused with 400 before anything runs, rather than silently stored or replaced.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = ""
        for header in REQUEST_ID_HEADERS:
            incoming = request.headers.get(header)
            if not incoming:
                continue
            if not (len(incoming) <= REQUEST_ID_MAX and _REQUEST_ID.fullmatch(incoming)):
                return _refuse(request, header)
            request_id = incoming
            break
        request_id = request_id or uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        ctx = context.RequestContext(
            request_id=request_id,
            ip=client_ip.client_ip(request),
            source="web",
            user=lambda: getattr(request, "user", None),
        )
        token = context.bind(ctx)
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class AuditlogMiddleware(_AuditlogMiddleware):
    """django-auditlog's middleware with the project's answers: the address from the one resolver
    (forwarded headers only from TRUSTED_PROXIES), a checked port, and (through AUDITLOG_CID_GETTER)
    the request id of RequestContextMiddleware as the correlation id."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        if settings.AUDITLOG_DISABLE_REMOTE_ADDR:
            return None
        return client_ip.client_ip(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        if settings.AUDITLOG_DISABLE_REMOTE_ADDR:
            return None
        return client_ip.client_port(request)
