"""Reads of the domain event log: whose events a user may see, as the activity page shows them.

A user sees the events of the rows that belong to them (``settings.AUDIT_ACTIVITY_SCOPES``: model
label -> lookups from the model to its user; named as strings, so audit imports no higher app) and
the events they caused themselves; staff with ``audit.view_domainevent`` see every event.

What is shown of an event someone else caused is little: not their name or email, not their address,
not the event's data (a renter's booking seen by the offering's owner says what happened and when).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, NamedTuple

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from audit.models import DomainEvent


def sees_everything(user: Any) -> bool:
    return bool(getattr(user, "is_staff", False) and user.has_perm("audit.view_domainevent"))


def _owned(user: Any) -> Q:
    """Events whose target is one of the user's rows, or that the user caused."""
    condition = Q(actor_id=user.pk)
    for label, lookups in getattr(settings, "AUDIT_ACTIVITY_SCOPES", {}).items():
        try:
            model = apps.get_model(label)
        except LookupError:  # an app that is not installed here (demo-only models)
            continue
        mine = Q()
        for lookup in lookups:
            mine |= Q(**{lookup: user.pk})
        ids = model._default_manager.filter(mine).annotate(_target_id=Cast("pk", CharField())).values("_target_id")
        condition |= Q(target_type=ContentType.objects.get_for_model(model), target_id__in=ids)
    return condition


def kind_of(verb: str) -> str:
    """An event's kind: its verb up to the first dot ("booking" for "booking.confirmed")."""
    return verb.split(".", 1)[0]


def visible_events(user: Any) -> QuerySet[DomainEvent]:
    """Every event ``user`` may see, newest first."""
    events = DomainEvent.objects.select_related("target_type")
    if sees_everything(user):
        return events.all()
    if not getattr(user, "pk", None):
        return events.none()
    return events.filter(_owned(user))


def kinds(events: QuerySet[DomainEvent]) -> list[str]:
    """The kinds among ``events``, sorted, for the page's filter."""
    verbs = events.order_by().values_list("verb", flat=True).distinct()
    return sorted({kind_of(v) for v in verbs})


def filtered(
    events: QuerySet[DomainEvent], *, kind: str = "", since: date | None = None, until: date | None = None
) -> QuerySet[DomainEvent]:
    """``events`` of one kind, from the start of ``since`` to the end of ``until`` (days of the current
    time zone: the portal user's, UTC elsewhere)."""
    zone = timezone.get_current_timezone()
    if kind:
        events = events.filter(Q(verb=kind) | Q(verb__startswith=f"{kind}."))
    if since is not None:
        events = events.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until is not None:
        events = events.filter(created_at__lte=datetime.combine(until, time.max, tzinfo=zone))
    return events


class ActivityRow(NamedTuple):
    at: datetime
    verb: str
    kind: str
    target_type: str
    target: str
    who: str
    ip: str | None
    data: dict[str, Any] | None  # staff only


def as_rows(events: Any, user: Any) -> list[ActivityRow]:
    """The events as the activity page shows them to ``user`` (see the module's text)."""
    everything = sees_everything(user)
    account_type = ContentType.objects.get_for_model(user) if getattr(user, "pk", None) else None
    rows = []
    for e in events:
        own_act = e.actor_id is not None and e.actor_id == user.pk
        own_account = account_type is not None and e.target_type_id == account_type.pk and e.target_id == str(user.pk)
        if everything:
            who = e.actor_label or "system"
        elif own_act:
            who = "you"
        elif e.actor_id is None:
            who = "system" if e.source in ("system", "task", "webhook") else "someone (not signed in)"
        else:
            who = "another user"
        rows.append(
            ActivityRow(
                at=e.created_at,
                verb=e.verb,
                kind=kind_of(e.verb),
                target_type=str(e.target_type.model_class()._meta.verbose_name)
                if e.target_type is not None and e.target_type.model_class() is not None
                else "",
                target=e.target_repr,
                who=who,
                ip=e.ip if (everything or own_act or own_account) else None,
                data=e.data if everything else None,
            )
        )
    return rows
