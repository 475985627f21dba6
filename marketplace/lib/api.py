"""The REST API's answers to what goes wrong: one shape, always JSON.

``{"error": code, "detail": message, "fields": {...}?, ...}``: domain errors become 4xx (never a
500), bad pages 400, rates 429 with ``retry_after``; ``ApiErrorMiddleware`` and the 404/500 handlers
(marketplace.views) give the same shape to whatever escapes a view under /api/ and to unknown paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core import signals
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.lib import inputs
from marketplace.lib.errors import DomainError, UpstreamError, ValidationFailed
from marketplace.lib.renderers import JSONRenderer


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        inner = _flatten(value)
        return inner if key in ("non_field_errors", "__all__", "detail") else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _flatten(detail[0])
    return str(detail)


class BoundedDateTimeField(serializers.DateTimeField):
    """A date and time inside the operator's calendar window (marketplace.lib.inputs)."""

    def to_internal_value(self, value: Any) -> Any:
        result = super().to_internal_value(value)
        message = inputs.datetime_error(result)
        if message:
            raise serializers.ValidationError(message, code="out_of_range")
        return result


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset with bounds that answer 400 (as the slice search's own ``limit``/``offset``):
    ``limit`` a whole number from 1 to 200 (50 when absent), ``offset`` from 0 to 1,000,000 (0 when
    absent). DRF's own class let an unbounded ?limit=10**20 reach PostgreSQL as LIMIT
    100000000000000000000 ("bigint out of range": a 500), and silently replaced a negative or
    non-numeric value by the default, so a typo looked like an answer."""

    max_limit = 200
    max_offset = 1_000_000

    def get_limit(self, request: Any) -> int:
        return _bounded_int(request, self.limit_query_param, 1, self.max_limit, self.default_limit or 50)

    def get_offset(self, request: Any) -> int:
        return _bounded_int(request, self.offset_query_param, 0, self.max_offset, 0)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, self.max_offset)}
        for param in params:
            if param["name"] in bounds:
                low, high = bounds[param["name"]]
                param["schema"] = {**param.get("schema", {}), "minimum": low, "maximum": high}
        return params


def _bounded_int(request: Any, name: str, low: int, high: int, default: int) -> int:
    raw = (request.query_params.get(name) or "").strip()  # the last one when repeated, as Django reads it
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise exceptions.ValidationError({name: [f"Give a whole number from {low} to {high:,}."]})
    return int(raw)


def range_errors(attrs: dict[str, Any], start_field: str, end_field: str) -> dict[str, str]:
    """{end_field: message} when the range in ``attrs`` is longer than the operator's maximum."""
    start, end = attrs.get(start_field), attrs.get(end_field)
    message = inputs.range_error(start, end) if start is not None and end is not None else None
    return {end_field: message} if message else {}


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"error": code, "detail": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return body


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = _error_response(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # Errors are JSON whatever the endpoint renders otherwise (the schema's YAML, a CSV export).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response


def _error_response(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationFailed):
        return Response(error_body("invalid", exc.message, exc.errors), status=400)
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, UpstreamError):
        response = Response(error_body(exc.api_code, exc.public_message), status=exc.status_code)
        if exc.status_code == 503:
            response["Retry-After"] = "30"
        return response
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return Response(error_body("invalid", _flatten(fields), fields), status=400)
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        response = Response(error_body("rate_limited", str(exc.detail), retry_after=wait), status=429)
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"__all__": exc.detail}
        response.data = error_body("invalid", _flatten(exc.detail), fields)
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(
            exc.get_codes() if isinstance(exc.get_codes(), str) else "error", _flatten(exc.detail)
        )
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


# ---- every answer under /api/ is JSON, whatever went wrong ------------------------------------

log = logging.getLogger("django.request")


def is_api_path(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def server_error_response(request: HttpRequest) -> JsonResponse:
    request_id = getattr(request, "request_id", "") or ""
    message = "The server could not answer this request; the error has been logged."
    if request_id:
        message += f" Quote request id {request_id} when you report it."
    extra: dict[str, Any] = {"request_id": request_id} if request_id else {}
    return JsonResponse(error_body("server_error", message, **extra), status=500)


class ApiErrorMiddleware:
    """An exception that escapes a view under /api/ is answered in the API's error shape, with DEBUG
    on as well as off: Django would answer its HTML debug page (DEBUG) or the 500 handler's. The
    error is logged with its traceback as Django logs it, and ``got_request_exception`` is sent, so
    the test client still raises it. Listed early in MIDDLEWARE: process_exception runs last to
    first, so allauth's (re-authentication redirects) answers before this one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request):
            return None
        if isinstance(exception, Http404):
            return JsonResponse(error_body("not_found", f"Nothing at {request.path}."), status=404)
        if isinstance(exception, DjangoPermissionDenied):
            reason = str(exception) or "You may not do this."
            return JsonResponse(error_body("forbidden", reason), status=403)
        if isinstance(exception, SuspiciousOperation | BadRequest):
            logging.getLogger("django.security").warning("%s: %s", type(exception).__name__, exception)
            return JsonResponse(error_body("invalid", str(exception) or "Bad request."), status=400)
        log.error("Internal Server Error: %s", request.path, exc_info=exception)
        signals.got_request_exception.send(sender=type(self), request=request)
        return server_error_response(request)
