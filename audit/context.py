"""Who is acting, from where: set per request (or task) and read by record_event.

The request's address comes from ``marketplace.lib.client_ip`` (the one resolver); the same id,
address and user reach django-auditlog's history rows (``audit.middleware.AuditlogMiddleware`` and
``AUDITLOG_CID_GETTER``), so both logs say the same thing about one request.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    source: str = "web"
    # The request's user, read when an event is written (the login may change it meanwhile).
    user: Callable[[], Any] | None = None


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "audit_request_context",
    default=RequestContext(source="system"),  # noqa: B039 - frozen, immutable
)


def current() -> RequestContext:
    return _current.get()


def bind(ctx: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(ctx)


def reset(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)


def current_request_id() -> str | None:
    """The correlation id of the request (or task) being served; django-auditlog's cid getter."""
    return _current.get().request_id or None


def current_user() -> Any:
    """The signed-in user of the request being served, else None (tasks, anonymous visitors)."""
    getter = _current.get().user
    user = getter() if getter is not None else None
    return user if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) else None
