"""Writes for accounts: roles, the public handle and API tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from accounts.models import ApiToken, User, hash_token, normalize_handle, validate_handle, validate_timezone
from audit import context as audit_context
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError, PermissionDeniedError, ValidationFailed

log = logging.getLogger(__name__)


def _token_days(expires_in_days: object) -> int:
    if expires_in_days is None or expires_in_days == "":
        return int(settings.MARKETPLACE_API_TOKEN_DEFAULT_DAYS)
    most = int(settings.MARKETPLACE_API_TOKEN_MAX_DAYS)
    try:
        days = int(str(expires_in_days))
    except ValueError:
        days = 0
    if not 1 <= days <= most:
        raise ValidationFailed({"expires_in_days": [f"Choose an expiry from 1 to {most} days."]})
    return days


def _token_scopes(scopes: Iterable[str] | None) -> list[str]:
    if scopes is None:
        return list(ApiToken.ALL_SCOPES)
    chosen = set(scopes)
    unknown = chosen - set(ApiToken.ALL_SCOPES)
    if unknown:
        raise ValidationFailed(
            {"scopes": [f"Unknown scope {sorted(unknown)[0]!r}: use {', '.join(ApiToken.ALL_SCOPES)}."]}
        )
    if not chosen:
        raise ValidationFailed({"scopes": ["Choose at least one scope."]})
    return [scope for scope in ApiToken.ALL_SCOPES if scope in chosen]


@transaction.atomic
def api_token_create(
    *,
    actor: User,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_in_days: int | str | None = None,
    manage_url: str = "",
) -> tuple[ApiToken, str]:
    """Create a token for ``actor``; returns the row and the plaintext, which is never stored.

    Every scope unless ``scopes`` names some; it expires after ``expires_in_days`` (the settings'
    default when not given, at most MARKETPLACE_API_TOKEN_MAX_DAYS). Its user is told by email once
    it is committed (the token's name, scopes and expiry, never its secret). Callers that serve a
    person check that they signed in recently (accounts.views)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": ["Give the token a name so you can recognise it later."]})
    if len(name) > 80:
        raise ValidationFailed({"name": ["Use at most 80 characters."]})
    chosen = _token_scopes(scopes)
    days = _token_days(expires_in_days)
    raw = ApiToken.new_raw_key()
    now = clock.now()
    token = ApiToken.objects.create(
        user=actor,
        name=name,
        key_prefix=raw[:10],
        key_hash=hash_token(raw),
        scopes=chosen,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    record_event(
        actor=actor,
        verb="api_token.created",
        target=token,
        data={"name": name, "scopes": chosen, "expires_at": token.expires_at.isoformat()},
    )
    ip = audit_context.current().ip or ""
    transaction.on_commit(partial(_send_token_created_email, token.pk, ip, manage_url))
    return token, raw


def _send_token_created_email(token_id: int, ip: str, manage_url: str) -> None:
    """The notice to the token's user; a mail server that fails is logged, never the request's error."""
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None:
        return
    context = {"token": token, "ip": ip, "manage_url": manage_url, "scopes": ", ".join(token.scopes)}
    try:
        send_mail(
            subject=f"New API token “{token.name}” on your Slice Market account",
            message=render_to_string("accounts/email/api_token_created.txt", context),
            from_email=None,
            recipient_list=[token.user.email],
        )
    except Exception:
        log.exception("could not send the new-token email for token %s", token_id)


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens; revoking twice is harmless."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
    if token is None:
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.revoked_reason = "revoked by its user"
        token.save(update_fields=["revoked_at", "revoked_reason"])
        record_event(actor=actor, verb="api_token.revoked", target=token, data={})
    return token


@transaction.atomic
def api_tokens_revoke_all(*, user: User, reason: str) -> int:
    """Revoke every live token of ``user`` (their password or second factor changed: whoever held
    the old credentials may have made tokens). Returns how many; one audit event when any."""
    now = clock.now()
    ids = list(
        ApiToken.objects.select_for_update()
        .filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    ApiToken.objects.filter(pk__in=ids).update(revoked_at=now, revoked_reason=reason[:32])
    record_event(actor=user, verb="api_token.revoked_all", target=user, data={"reason": reason, "token_ids": ids})
    return len(ids)


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


def _clean_timezone(value: object) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationFailed({"timezone": ["Choose a time zone, for example Europe/Paris."]})
    try:
        validate_timezone(name)
    except ValidationError as exc:
        raise ValidationFailed({"timezone": list(exc.messages)}) from exc
    return name


@transaction.atomic
def user_timezone_set(*, actor: User, timezone: str) -> User:
    """Choose the zone the portal shows and reads times in (an IANA name known to zoneinfo). The API
    keeps answering in UTC."""
    name = _clean_timezone(timezone)
    user = User.objects.select_for_update().get(pk=actor.pk)
    before = user.timezone
    if name != before:
        user.timezone = name
        user.save(update_fields=["timezone"])
        record_event(actor=user, verb="user.timezone_changed", target=user, data={"from": before, "to": name})
    actor.timezone = name
    return user


@transaction.atomic
def user_timezone_detected(*, actor: User, timezone: str) -> bool:
    """The browser's zone, taken only while the user has none (a choice is never overwritten; two tabs
    reporting at once set it once). Returns whether it was taken."""
    name = _clean_timezone(timezone)
    taken = User.objects.filter(pk=actor.pk, timezone="").update(timezone=name) == 1
    if taken:
        actor.timezone = name
        record_event(
            actor=actor, verb="user.timezone_changed", target=actor, data={"from": "", "to": name, "source": "browser"}
        )
    return taken
