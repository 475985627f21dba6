"""The OpenAPI schema (/api/v1/schema) and its docs page (/api/v1/docs), behind login unless
MARKETPLACE_API_SCHEMA_PUBLIC is on.

Signed in (browser session or token) they answer with the API's default permissions (a token needs
its ``read`` scope); anonymous callers get the API's 401 (the docs page: the sign-in page). The
setting is read per request.

``error_responses`` (a drf-spectacular postprocessing hook, SPECTACULAR_SETTINGS) documents the
error shape of marketplace.lib.api (``{"error", "detail", "fields"?}``) on every operation with the
statuses it can give, so an endpoint added anywhere under /api/ is covered without a decorator.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from marketplace.lib.idempotency import HEADER as IDEMPOTENCY_HEADER
from marketplace.lib.idempotency import MAX_KEY_LENGTH


class _SchemaAccess(APIView):
    def get_permissions(self) -> list[Any]:
        if getattr(settings, "MARKETPLACE_API_SCHEMA_PUBLIC", False):
            return [AllowAny()]
        return [permission() for permission in api_settings.DEFAULT_PERMISSION_CLASSES]


class ApiSchemaView(_SchemaAccess, SpectacularAPIView):
    pass


@require_GET
def docs_view(request: HttpRequest) -> HttpResponseBase:
    """Swagger UI from static/vendor/swagger-ui (no CDN), started by static/js/api-docs.js (no inline
    script: the site's Content-Security-Policy). Signed-in users only unless the schema is public."""
    from django.shortcuts import render

    if not getattr(settings, "MARKETPLACE_API_SCHEMA_PUBLIC", False) and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(request, "api/docs.html")


# ---- the error shape on every operation -------------------------------------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error under /api/: a stable machine code, a sentence for people and, for bad input, "
    "the messages per field. Some codes add keys of their own (`retry_after` on 429, `longest_seconds` on "
    "409 `extension_unavailable`, `request_id` on 500).",
    "properties": {
        "error": {"type": "string", "description": "Machine code: invalid, not_found, forbidden, conflict, ..."},
        "detail": {"type": "string", "description": "What went wrong, in words."},
        "fields": {
            "type": "object",
            "description": "Input errors: field name -> list of messages (nested for lists and objects); "
            "`__all__` for the request as a whole.",
            "additionalProperties": {},
        },
        "retry_after": {"type": "integer", "description": "429 only: seconds to wait (as Retry-After)."},
    },
    "required": ["error", "detail"],
    "additionalProperties": True,
}


class ErrorSerializer(serializers.Serializer):
    """The error shape for a view that names a status of its own (``error_response``); the schema's
    ``Error`` component is ERROR_SCHEMA whatever this declares."""

    error = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(required=False)


def error_response(description: str) -> OpenApiResponse:
    """A documented error status of a view, with the API's error shape (examples may name its status)."""
    return OpenApiResponse(ErrorSerializer, description=description)


# status -> (when, example)
_ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": (
        "Bad input: a field, a query parameter or the request as a whole (`fields` says which).",
        {
            "error": "invalid",
            "detail": "duration: Give a whole number of seconds.",
            "fields": {"duration": ["Give a whole number of seconds."]},
        },
    ),
    "401": (
        "No valid credentials: no token or session, or the token is expired or revoked.",
        {"error": "not_authenticated", "detail": "Authentication credentials were not provided."},
    ),
    "403": (
        "Signed in but not allowed: the token lacks the scope this needs, or the account may not do this.",
        {
            "error": "insufficient_scope",
            "detail": "This token lacks the 'market' scope needed here.",
        },
    ),
    "404": (
        "Nothing of yours at this id, in the path or the body (another user's is answered the same way).",
        {"error": "not_found", "detail": "No such booking."},
    ),
    "409": (
        "The request contradicts the current state or lost a race (for example the slice was just taken, or "
        "a request with the same Idempotency-Key is still running).",
        {"error": "conflict", "detail": "This slice was just taken by someone else."},
    ),
    "415": (
        "A body that is not JSON (or a form).",
        {"error": "unsupported_media_type", "detail": 'Unsupported media type "text/plain" in request.'},
    ),
    "422": (
        "The Idempotency-Key was used before for a different request.",
        {
            "error": "idempotency_key_reused",
            "detail": "This Idempotency-Key was used for another request; use a new key for a new request.",
        },
    ),
    "429": (
        "Too many requests: wait the seconds in Retry-After (also `retry_after`).",
        {"error": "rate_limited", "detail": "Request was throttled.", "retry_after": 12},
    ),
}
_UNSAFE = {"post", "put", "patch", "delete"}


def _statuses(path: str, method: str, operation: dict[str, Any], handler: Any) -> list[str]:
    codes = ["400", "403", "429"]
    if {} not in (operation.get("security") or []):  # an anonymous caller is let in nowhere else
        codes.append("401")
    if "{" in path or "requestBody" in operation:  # an id in the path or in the body (a quote, a profile)
        codes.append("404")
    if method in _UNSAFE:
        codes.append("409")
    if "requestBody" in operation:
        codes.append("415")
    if getattr(handler, "idempotent", False):
        codes.append("422")
    return sorted(codes)


def error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the error shape, with the statuses each operation can answer, on every
    operation (responses a view documents itself are kept as they are)."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    views = {(path, method.lower()): callback.cls for path, _regex, method, callback in generator.endpoints or []}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            # The view's method (an @api_view function is the method of DRF's WrappedAPIView).
            handler = getattr(views.get((path, method)), method, None)
            if getattr(handler, "idempotent", False):
                params = operation.setdefault("parameters", [])
                if not any(p.get("name") == IDEMPOTENCY_HEADER for p in params):
                    params.append(
                        {
                            "in": "header",
                            "name": IDEMPOTENCY_HEADER,
                            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                            "description": "Makes retries safe: the same key with the same request replays the "
                            "first answer (header Idempotent-Replayed: true); with another request: 422.",
                        }
                    )
            responses = operation.setdefault("responses", {})
            # A view names an error status of its own with error_response() (or a bare OpenApiResponse): the shape.
            for code, documented in responses.items():
                if code[0] in "45" and not documented.get("content"):
                    documented["content"] = {"application/json": {"schema": ref}}
            for code in _statuses(path, method, operation, handler):
                if code in responses:
                    continue
                when, example = _ERRORS[code]
                response: dict[str, Any] = {
                    "description": when,
                    "content": {"application/json": {"schema": ref, "examples": {"Example": {"value": example}}}},
                }
                if code == "429":
                    response["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
                    }
                responses[code] = response
    return result
