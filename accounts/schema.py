"""The API token in the OpenAPI schema: an HTTP bearer scheme that says what tokens are and do.

drf-spectacular finds the class when this module is imported (AccountsConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A personal API token (tsm_…) from the API tokens page, sent as 'Authorization: Bearer <token>', "
                "never in the query string (400 token_in_query). Scopes: read (GET), market (request, bid, quote, "
                "release), billing (billing writes), owner (owner endpoints); a missing scope is a 403 "
                "insufficient_scope. An expired or revoked token is a 401. Requests per token are rate-limited: "
                "429 rate_limited with Retry-After."
            ),
        }
