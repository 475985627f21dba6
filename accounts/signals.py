"""Authentication and permission events into the domain event log.

API tokens (accounts.services.api_tokens_revoke_all) are revoked on the same password and MFA
signals: the one place every way of changing them (allauth's pages) announces it.

Framework events, not domain logic: Django's and allauth's signals (login, failure, logout, password
change and reset, email changes, MFA) and django-guardian's object-permission rows (granted by
``assign_perm``, revoked by ``remove_perm``) each become one ``record_event``, with the request's
correlation id and client address from the audit context. ``connect()`` runs in AccountsConfig.ready().

Login failures do not name the account tried: the attempted email is stored as a keyed hash
(HMAC with SECRET_KEY), never as typed. People type passwords into the email field, and the log is
read by staff and shown on activity pages; the hash still lets staff match attempts on one address
(hash the address they ask about the same way, ``login_attempt_hash``). When the address belongs to
an account, the event's target is that account, so its owner sees the attempt on their activity
page; what the person trying is shown does not change (allauth answers the same either way).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.apps import apps
from django.contrib.auth import signals as auth_signals
from django.contrib.contenttypes.models import ContentType
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from guardian.models.models import BaseObjectPermission

from accounts.models import User
from accounts.services import api_tokens_revoke_all
from audit import context
from audit.services import record_event
from marketplace.lib import client_ip

_UID = "accounts.signals"


def login_attempt_hash(email: str) -> str:
    """The keyed hash a login failure stores for the address that was tried."""
    return salted_hmac("accounts.login_failed", email.strip().lower()).hexdigest()


def _from_network(request: Any) -> bool:
    """A request that came in over HTTP; not the test client's force_login() or a script's login()."""
    return isinstance(request, WSGIRequest | ASGIRequest)


@contextmanager
def _request_context(request: Any) -> Iterator[None]:
    """The request's context for an event sent outside the middleware's span (allauth sends some on
    commit, which a test's transaction defers past the response): its id and the resolved address."""
    if context.current().request_id or not isinstance(request, HttpRequest):
        yield
        return
    token = context.bind(
        context.RequestContext(
            request_id=getattr(request, "request_id", ""),
            ip=client_ip.client_ip(request),
            source="web",
            user=lambda: getattr(request, "user", None),
        )
    )
    try:
        yield
    finally:
        context.reset(token)


def _record(user: Any, verb: str, data: dict[str, Any] | None = None, request: Any = None) -> None:
    if isinstance(user, User) and user.pk:
        with _request_context(request):
            record_event(actor=user, verb=verb, target=user, data=data or {})


# ---- sessions -------------------------------------------------------------------------------


def _logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if _from_network(request):
        _record(user, "auth.login", request=request)


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if _from_network(request):
        _record(user, "auth.logout", request=request)


def _login_failed(sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **kwargs: Any) -> None:
    if not _from_network(request):
        return
    credentials = credentials or {}
    tried = credentials.get("email") or credentials.get("username") or credentials.get("login") or ""
    tried = tried if isinstance(tried, str) and len(tried) <= 254 and "\x00" not in tried else ""
    account = User.objects.filter(email__iexact=tried).first() if tried else None
    with _request_context(request):
        record_event(
            actor=None,
            verb="auth.login_failed",
            target=account,
            data={"email_hash": login_attempt_hash(tried) if tried else ""},
        )


def _mfa_failed(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    if isinstance(user, User) and user.pk:
        with _request_context(request):
            record_event(
                actor=None, verb="auth.mfa_failed", target=user, data={"type": getattr(authenticator, "type", "")}
            )


# ---- credentials ----------------------------------------------------------------------------


def _password_changed(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.password_changed", request=request)


def _password_set(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.password_set", request=request)


def _password_reset(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.password_reset", request=request)


def _email_added(sender: Any, request: Any = None, user: Any = None, email_address: Any = None, **kw: Any) -> None:
    _record(user, "auth.email_added", {"email": getattr(email_address, "email", "")}, request=request)


def _email_removed(sender: Any, request: Any = None, user: Any = None, email_address: Any = None, **kw: Any) -> None:
    _record(user, "auth.email_removed", {"email": getattr(email_address, "email", "")}, request=request)


def _email_confirmed(sender: Any, request: Any = None, email_address: Any = None, **kwargs: Any) -> None:
    _record(
        getattr(email_address, "user", None), "auth.email_confirmed", {"email": email_address.email}, request=request
    )


def _email_changed(
    sender: Any,
    request: Any = None,
    user: Any = None,
    from_email_address: Any = None,
    to_email_address: Any = None,
    **kwargs: Any,
) -> None:
    _record(
        user,
        "auth.email_changed",
        {"from": getattr(from_email_address, "email", ""), "to": getattr(to_email_address, "email", "")},
        request=request,
    )


def _mfa_added(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.mfa_added", {"type": getattr(authenticator, "type", "")}, request=request)


def _mfa_removed(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.mfa_removed", {"type": getattr(authenticator, "type", "")}, request=request)


def _mfa_reset(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record(user, "auth.mfa_reset", {"type": getattr(authenticator, "type", "")}, request=request)


# ---- API tokens: revoked when the credentials behind them change -----------------------------


def _revoke_tokens(user: Any, request: Any, reason: str) -> None:
    """Whoever held the old password or second factor may have made tokens: all of them go.
    The user is told on the next page when a request with messages is at hand."""
    if not (isinstance(user, User) and user.pk):
        return
    with _request_context(request):
        count = api_tokens_revoke_all(user=user, reason=reason)
    if count and isinstance(request, HttpRequest) and hasattr(request, "_messages"):
        from django.contrib import messages

        messages.warning(
            request,
            f"Your {count} API token{'s were' if count > 1 else ' was'} revoked ({reason}): "
            "create new ones on the API tokens page.",
        )


def _tokens_on_password_change(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _revoke_tokens(user, request, "password changed")


def _tokens_on_password_reset(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _revoke_tokens(user, request, "password reset")


def _tokens_on_mfa_change(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    _revoke_tokens(user, request, "two-factor changed")


# ---- object permissions (django-guardian) ---------------------------------------------------


def _permission_data(row: Any) -> dict[str, Any]:
    perm = row.permission
    app_label = ContentType.objects.get_for_id(perm.content_type_id).app_label
    data: dict[str, Any] = {"permission": f"{app_label}.{perm.codename}"}
    if getattr(row, "user_id", None) is not None:
        data["user_id"] = row.user_id
    if getattr(row, "group_id", None) is not None:
        data["group_id"] = row.group_id
    return data


def _permission_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if created:
        target = instance.content_object
        record_event(
            actor=context.current_user(),
            verb="permission.granted",
            target=target if isinstance(target, Model) else None,
            data=_permission_data(instance),
        )


def _permission_deleted(sender: Any, instance: Any, origin: Any = None, **kwargs: Any) -> None:
    # Rows deleted because their object is deleted are not revocations: that object's own event says so.
    started_here = isinstance(origin, BaseObjectPermission) or (
        isinstance(origin, QuerySet) and issubclass(origin.model, BaseObjectPermission)
    )
    if not started_here:
        return
    target = instance.content_object
    record_event(
        actor=context.current_user(),
        verb="permission.revoked",
        target=target if isinstance(target, Model) else None,
        data=_permission_data(instance),
    )


def connect() -> None:
    auth_signals.user_logged_in.connect(_logged_in, dispatch_uid=f"{_UID}.login")
    auth_signals.user_logged_out.connect(_logged_out, dispatch_uid=f"{_UID}.logout")
    auth_signals.user_login_failed.connect(_login_failed, dispatch_uid=f"{_UID}.login_failed")
    account_signals.password_changed.connect(_password_changed, dispatch_uid=f"{_UID}.password_changed")
    account_signals.password_set.connect(_password_set, dispatch_uid=f"{_UID}.password_set")
    account_signals.password_reset.connect(_password_reset, dispatch_uid=f"{_UID}.password_reset")
    account_signals.email_added.connect(_email_added, dispatch_uid=f"{_UID}.email_added")
    account_signals.email_removed.connect(_email_removed, dispatch_uid=f"{_UID}.email_removed")
    account_signals.email_confirmed.connect(_email_confirmed, dispatch_uid=f"{_UID}.email_confirmed")
    account_signals.email_changed.connect(_email_changed, dispatch_uid=f"{_UID}.email_changed")
    mfa_signals.authenticator_added.connect(_mfa_added, dispatch_uid=f"{_UID}.mfa_added")
    mfa_signals.authenticator_removed.connect(_mfa_removed, dispatch_uid=f"{_UID}.mfa_removed")
    mfa_signals.authenticator_reset.connect(_mfa_reset, dispatch_uid=f"{_UID}.mfa_reset")
    mfa_signals.authentication_failed.connect(_mfa_failed, dispatch_uid=f"{_UID}.mfa_failed")
    for signal, receiver, name in (
        (account_signals.password_changed, _tokens_on_password_change, "password_changed"),
        (account_signals.password_set, _tokens_on_password_change, "password_set"),
        (account_signals.password_reset, _tokens_on_password_reset, "password_reset"),
        (mfa_signals.authenticator_added, _tokens_on_mfa_change, "mfa_added"),
        (mfa_signals.authenticator_removed, _tokens_on_mfa_change, "mfa_removed"),
        (mfa_signals.authenticator_reset, _tokens_on_mfa_change, "mfa_reset"),
    ):
        signal.connect(receiver, dispatch_uid=f"{_UID}.tokens.{name}")
    for model in apps.get_models():
        if issubclass(model, BaseObjectPermission):
            post_save.connect(_permission_saved, sender=model, dispatch_uid=f"{_UID}.perm_saved.{model._meta.label}")
            post_delete.connect(
                _permission_deleted, sender=model, dispatch_uid=f"{_UID}.perm_deleted.{model._meta.label}"
            )
