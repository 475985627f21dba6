"""Authorization: Bearer <token> for integrators. Tokens are looked up by their hash.

A token is refused (401) when unknown, revoked, expired, or its user is deactivated; one sent in the
query string (?token=, ?access_token=, ?api_key=...) is refused with a 400 whatever else the
request carries: URLs end up in logs, browser histories and Referer headers. ``request.auth`` is a
``TokenAuth`` (the token's id and scopes), which accounts.permissions checks against the endpoint.

Every API call pays for this lookup, so it is one prepared SQL statement (token joined to its
user) rather than an ORM query, whose compilation cost more than the query itself. No cache:
a revoked token or a deactivated user is refused from the next request on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User, hash_token
from marketplace.lib import clock, throttling
from marketplace.lib.db import fetch_prepared

# Query parameters that carry a credential in other APIs; refused here with a 400 that says why.
QUERY_CREDENTIALS = ("token", "access_token", "api_key", "apikey", "auth_token", "bearer")


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """What DRF's ``request.auth`` holds for a token request."""

    token_id: int
    scopes: frozenset[str]
    expires_at: datetime


class CredentialsInQuery(exceptions.ParseError):
    default_code = "token_in_query"


_USER_FIELDS = User._meta.concrete_fields
# Table and column names come from model metadata; the token hash is a bound parameter.
_LOOKUP = (  # noqa: S608
    "SELECT t.id, t.last_used_at, t.scopes, t.expires_at, {columns} FROM {tokens} t JOIN {users} u ON u.id = t.user_id"
    " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active"
).format(
    columns=", ".join(f"u.{f.column}" for f in _USER_FIELDS),
    tokens=ApiToken._meta.db_table,
    users=User._meta.db_table,
)


def _lookup(raw: str) -> tuple[int, datetime | None, list[str], datetime, User] | None:
    rows = fetch_prepared(_LOOKUP, [hash_token(raw)])
    if not rows:
        return None
    row = rows[0]
    user = User.from_db(connection.alias, [f.attname for f in _USER_FIELDS], row[4:])
    return row[0], row[1], row[2], row[3], user


def refuse_query_credentials(query: object) -> None:
    """400 when the query string names a credential parameter (its value is not looked at)."""
    named = [name for name in QUERY_CREDENTIALS if name in query]  # type: ignore[operator]
    if named:
        raise CredentialsInQuery(
            f"API tokens are not accepted in the query string (?{named[0]}=): send the token in the "
            "header 'Authorization: Bearer <token>'. A token that was put in a URL may be in logs: revoke it "
            "and create a new one."
        )


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        refuse_query_credentials(request.query_params)
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        raw = header[1].decode(errors="replace")
        found = _lookup(raw) if len(raw) <= 200 else None
        if found is None:
            throttling.count_failed_authentication(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        token_id, last_used_at, scopes, expires_at, user = found
        now = clock.now()
        if expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"This API token expired on {expires_at:%Y-%m-%d %H:%M} UTC: create a new one on the API tokens page."
            )
        # Touch last_used_at at most once a minute: the hot path stays read-only.
        if last_used_at is None or now - last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
        return user, TokenAuth(token_id=token_id, scopes=frozenset(scopes), expires_at=expires_at)

    def authenticate_header(self, request) -> str:  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'
