"""Writes for accounts: roles, the public handle and API tokens."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import ApiToken, User, hash_token, normalize_handle, validate_handle
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError, PermissionDeniedError, ValidationFailed


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
def user_become_owner(*, actor: User) -> bool:
    """A signed-in user (a renter) also becomes an owner; they keep renting. Returns False when they
    already were one. Refused for a deactivated account."""
    user = User.objects.select_for_update().filter(pk=actor.pk).first()
    if user is None or not user.is_active:
        raise PermissionDeniedError("This account is deactivated, so it cannot sell capacity.")
    if user.is_owner:
        return False
    user.is_owner = True
    user.save(update_fields=["is_owner"])
    actor.is_owner = True
    record_event(actor=user, verb="user.became_owner", target=user, data={})
    return True


def user_signed_up(*, user: User, role: str) -> None:
    """The audit entry of a new account; called inside the sign-up's transaction (accounts.signup),
    so the user row and this entry commit together."""
    record_event(actor=user, verb="user.signed_up", target=user, data={"role": role})


@transaction.atomic
def user_handle_set(*, actor: User, handle: str) -> User:
    """Choose the public handle other users see (lowercase letters, digits, hyphens; unique, not
    reserved). Case does not matter: "North-Cloud" is stored as "north-cloud"."""
    handle = normalize_handle(handle)
    try:
        validate_handle(handle)
    except ValidationError as exc:
        raise ValidationFailed({"handle": list(exc.messages)}) from exc
    user = User.objects.select_for_update().get(pk=actor.pk)
    before = user.handle
    if handle == before:
        return user
    if User.objects.filter(handle=handle).exclude(pk=user.pk).exists():
        raise ValidationFailed({"handle": ["This handle is taken: choose another one."]})
    user.handle = handle
    try:
        with transaction.atomic():
            user.save(update_fields=["handle"])
    except IntegrityError as exc:  # taken meanwhile by someone else
        raise ValidationFailed({"handle": ["This handle is taken: choose another one."]}) from exc
    actor.handle = handle
    record_event(actor=user, verb="user.handle_changed", target=user, data={"from": before, "to": handle})
    return user
