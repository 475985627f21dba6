"""What an API token may do: its scopes, checked on every API endpoint.

The scope an endpoint needs, first match wins:

1. the view's own ``required_scope`` attribute: a scope, or a mapping of HTTP method to scope
   (for a view these rules get wrong);
2. **owner** for an owner's endpoints, whatever the method: those named in ``OWNER_VIEWS``, views
   of the ``owners`` app's API, paths under ``/api/v1/owner/``;
3. **read** for the safe methods (GET, HEAD, OPTIONS);
4. for writes, by the module of the view: ``WRITE_SCOPES`` (the market's writes, booking, bidding,
   quotes, release, the server of a booking: **market**; billing's writes: **billing**);
5. any other write needs every scope: a restricted token cannot reach an endpoint nobody has
   classified yet (a token with all scopes, the default, can).

Only token requests are checked: a signed-in session (the portal's own calls) is its user, with
everything the user may do. A refusal is a 403 whose ``error`` is ``insufficient_scope``, naming
the missing scopes in ``required_scopes`` and in words.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request

from accounts.authentication import TokenAuth
from accounts.models import ApiToken
from marketplace.lib.errors import PermissionDeniedError
from marketplace.lib.staff import is_owner_or_superuser

ALL_SCOPES = ApiToken.ALL_SCOPES
OWNER_VIEWS = frozenset({"billing-api:payouts"})  # URL names (namespace:name)
OWNER_MODULES = ("owners.",)
OWNER_PATHS = ("/api/v1/owner/", "/api/v1/owners/")
WRITE_SCOPES = {
    "scheduling.": "market",
    "provisioning.": "market",
    "billing.": "billing",
    # Managing webhook endpoints (create, change, rotate, redeliver) is market work: an endpoint
    # receives the news of the token user's bookings and bids, what a market-scoped integrator acts
    # on; reading the delivery log is 'read' like every GET. A billing-only or read-only token
    # cannot point the account's events at a new URL.
    "webhooks.": "market",
}


class InsufficientScope(PermissionDeniedError):
    code = "insufficient_scope"


def required_scopes(request: Request, view: Any) -> tuple[str, ...]:
    """The scopes a token needs for this request to ``view`` (all of them)."""
    method = (request.method or "GET").upper()
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        declared = declared.get(method) or declared.get("*")
    if isinstance(declared, str):
        return (declared,)
    match = getattr(request, "resolver_match", None)
    module = type(view).__module__
    if (
        (match is not None and match.view_name in OWNER_VIEWS)
        or module.startswith(OWNER_MODULES)
        or request.path.startswith(OWNER_PATHS)
    ):
        return ("owner",)
    if method in SAFE_METHODS:
        return ("read",)
    for prefix, scope in WRITE_SCOPES.items():
        if module.startswith(prefix):
            return (scope,)
    return ALL_SCOPES


class TokenScopePermission(BasePermission):
    """A token request needs the endpoint's scope (``required_scopes``); sessions pass."""

    def has_permission(self, request: Request, view: Any) -> bool:
        auth = request.auth
        if not isinstance(auth, TokenAuth):
            return True
        needed = required_scopes(request, view)
        missing = [scope for scope in needed if scope not in auth.scopes]
        if not missing:
            return True
        names = ", ".join(f"'{scope}'" for scope in missing)
        raise InsufficientScope(
            f"This API token lacks the {names} scope{'s' if len(missing) > 1 else ''} that "
            f"{request.method} {request.path} needs. Create a token with it on the API tokens page.",
            extra={"required_scopes": missing},
        )


class OwnerOnly(BasePermission):
    """The owner API is for owners (and superusers), as the owner portal is: anyone else gets a 403,
    before any object is looked up (a renter's token with every scope included; staff without
    permissions too, marketplace.lib.staff)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if is_owner_or_superuser(request.user):
            return True
        raise PermissionDeniedError("The owner API is for owners: this account does not sell capacity.")


# For the owner API's views: signed in (401), the token's scope (403 insufficient_scope), an owner (403).
OWNER_API_PERMISSIONS: list[type[BasePermission]] = [IsAuthenticated, TokenScopePermission, OwnerOnly]
