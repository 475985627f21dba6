"""record_event: the one way the engine writes to the domain event log.

Call it inside the service's transaction so the event commits (or rolls back)
with the change it describes.
"""

from __future__ import annotations

from typing import Any

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


def record_event(
    *,
    actor: Any,
    verb: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    source: str | None = None,
) -> DomainEvent:
    ctx = context.current()
    user = actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
    return DomainEvent.objects.create(
        actor=user,
        actor_label=str(getattr(user, "email", "")) if user else "",
        verb=verb,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        data=_scrub(data or {}),
        request_id=ctx.request_id,
        ip=ctx.ip,
        source=source or ctx.source,
    )
