"""Writes for accounts: roles and API tokens."""

from __future__ import annotations

from django.db import transaction

from accounts.models import ApiToken, User, hash_token
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError, ValidationFailed


@transaction.atomic
def api_token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``actor``; returns the row and the plaintext, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": ["Give the token a name so you can recognise it later."]})
    if len(name) > 80:
        raise ValidationFailed({"name": ["Use at most 80 characters."]})
    raw = ApiToken.new_raw_key()
    token = ApiToken.objects.create(user=actor, name=name, key_prefix=raw[:10], key_hash=hash_token(raw))
    record_event(actor=actor, verb="api_token.created", target=token, data={"name": name})
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens; revoking twice is harmless."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
    if token is None:
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        record_event(actor=actor, verb="api_token.revoked", target=token, data={})
    return token


@transaction.atomic
def user_set_roles(*, actor: User, user: User, is_owner: bool, is_renter: bool) -> User:
    if not (is_owner or is_renter):
        raise ValidationFailed({"__all__": ["Choose at least one role: owner or renter."]})
    before = {"is_owner": user.is_owner, "is_renter": user.is_renter}
    user.is_owner, user.is_renter = is_owner, is_renter
    user.save(update_fields=["is_owner", "is_renter"])
    record_event(
        actor=actor,
        verb="user.roles_changed",
        target=user,
        data={"before": before, "after": {"is_owner": is_owner, "is_renter": is_renter}},
    )
    return user
