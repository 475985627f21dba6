"""One exception handler for the REST API: domain errors become 4xx JSON, never a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.lib import inputs
from marketplace.lib.errors import DomainError, ValidationFailed


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
    """DRF's limit/offset with a largest page: an unbounded ?limit=10**20 reached PostgreSQL as
    LIMIT 100000000000000000000 ("bigint out of range": a 500)."""

    max_limit = 200


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
    if isinstance(exc, ValidationFailed):
        return Response(error_body("invalid", exc.message, exc.errors), status=400)
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return Response(error_body("invalid", _flatten(fields), fields), status=400)
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
