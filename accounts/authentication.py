"""Authorization: Bearer <token> for integrators. Tokens are looked up by their hash.

Every API call pays for this lookup, so it is one prepared SQL statement (token joined to its
user) rather than an ORM query, whose compilation cost more than the query itself. No cache:
a revoked token or a deactivated user is refused from the next request on."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User, hash_token
from marketplace.lib import clock
from marketplace.lib.db import fetch_prepared

_USER_FIELDS = User._meta.concrete_fields
# Table and column names come from model metadata; the token hash is a bound parameter.
_LOOKUP = (  # noqa: S608
    "SELECT t.id, t.last_used_at, {columns} FROM {tokens} t JOIN {users} u ON u.id = t.user_id"
    " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active"
).format(
    columns=", ".join(f"u.{f.column}" for f in _USER_FIELDS),
    tokens=ApiToken._meta.db_table,
    users=User._meta.db_table,
)


def _lookup(raw: str) -> tuple[int, datetime | None, User] | None:
    rows = fetch_prepared(_LOOKUP, [hash_token(raw)])
    if not rows:
        return None
    row = rows[0]
    return row[0], row[1], User.from_db(connection.alias, [f.attname for f in _USER_FIELDS], row[2:])


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        raw = header[1].decode(errors="replace")
        found = _lookup(raw)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        token_id, last_used_at, user = found
        now = clock.now()
        # Touch last_used_at at most once a minute: the hot path stays read-only.
        if last_used_at is None or now - last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
        return user, token_id

    def authenticate_header(self, request) -> str:  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'
