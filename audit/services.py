"""record_event and record_events: the one way Python writes to the domain event log.

Call them inside the service's transaction so the events commit (or roll back)
with the change they describe. Both build their rows with ``event_fields``:
who acted (a logged-in user, else nobody), from where (the request or task
context: correlation id, ip, source), and the target named as it is now.
Database functions that write audit rows take the same context from
``actor_context`` (as JSON), so every row says the same things.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db import models

from audit import context
from audit.models import DomainEvent

# Keys whose values must never reach the log, wherever they appear in ``data``.
_SECRET_KEYS = {"secret", "password", "token", "app_credential_secret", "api_key", "client_secret"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k.lower() in _SECRET_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _user(actor: Any) -> Any:
    """The actor if it is a logged-in user (it is then recorded), else None (the system)."""
    return actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None


def actor_context(*, actor: Any, source: str | None = None) -> dict[str, Any]:
    """Who and where, as every audit row records it: actor_id, actor_label, request_id, ip, source."""
    ctx = context.current()
    user = _user(actor)
    return {
        "actor_id": user.pk if user else None,
        "actor_label": str(getattr(user, "email", "")) if user else "",
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "source": source or ctx.source,
    }


def event_fields(
    *,
    actor: Any,
    verb: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    source: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The fields of one DomainEvent row (``at``: its time, else the model's default, now)."""
    who = actor_context(actor=actor, source=source)
    del who["actor_id"]  # the row takes the user itself
    fields = {
        "actor": _user(actor),
        **who,
        "verb": verb,
        "target_type": ContentType.objects.get_for_model(target) if target is not None else None,
        "target_id": str(target.pk) if target is not None else "",
        "target_repr": str(target)[:255] if target is not None else "",
        "data": _scrub(data or {}),
    }
    if at is not None:
        fields["created_at"] = at
    return fields


def record_event(
    *,
    actor: Any,
    verb: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    source: str | None = None,
) -> DomainEvent:
    return DomainEvent.objects.create(**event_fields(actor=actor, verb=verb, target=target, data=data, source=source))


class Event(NamedTuple):
    """One event for record_events: what happened to which target, with its data."""

    verb: str
    target: models.Model | None = None
    data: dict[str, Any] | None = None


def record_events(
    events: Iterable[Event], *, actor: Any = None, source: str | None = None, at: datetime | None = None
) -> list[DomainEvent]:
    """Write many events in one statement (bulk insert), each as record_event would write it; all
    by the same actor from the same context, at ``at`` (else now)."""
    return DomainEvent.objects.bulk_create(
        DomainEvent(**event_fields(actor=actor, verb=e.verb, target=e.target, data=e.data, source=source, at=at))
        for e in events
    )
