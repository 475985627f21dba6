"""Writes for notifications: read state and preferences, each a user's own (another's is a 404).

Audited like every change: one record per mark, per mark-all, per preferences change.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError, ValidationFailed
from notifications.kinds import Kind, kinds_for
from notifications.models import Notification, Preference


@transaction.atomic
def notification_mark_read(*, actor: User, notification_id: int) -> Notification:
    """Mark one of the actor's notifications read (again: nothing changes)."""
    n = Notification.objects.select_for_update().filter(pk=notification_id, user=actor, in_portal=True).first()
    if n is None:
        raise NotFoundError("No such notification.")
    if n.read_at is None:
        n.read_at = clock.now()
        n.save(update_fields=["read_at"])
        record_event(actor=actor, verb="notification.read", target=n, data={"kind": n.kind})
    return n


@transaction.atomic
def notifications_mark_all_read(*, actor: User) -> int:
    """Mark every unread notification of the actor's read; returns how many."""
    ids = list(
        Notification.objects.filter(user=actor, in_portal=True, read_at__isnull=True).values_list("pk", flat=True)
    )
    if not ids:
        return 0
    done = Notification.objects.filter(pk__in=ids, read_at__isnull=True).update(read_at=clock.now())
    record_event(actor=actor, verb="notification.read_all", target=actor, data={"count": done})
    return done


@transaction.atomic
def preferences_set(*, actor: User, choices: Mapping[str, tuple[bool, bool]]) -> list[Preference]:
    """Set, per kind, whether it shows in the portal and whether it is emailed. Kinds not named keep
    their setting; a kind the actor cannot receive (an owner's, for a renter only) is refused."""
    allowed = {k.value for k in kinds_for(is_owner=actor.is_owner)}
    unknown = sorted(set(choices) - allowed)
    if unknown:
        raise ValidationFailed(
            {"__all__": [f"Unknown notification kind {', '.join(unknown)}; known: {', '.join(sorted(allowed))}."]}
        )
    existing = {p.kind: p for p in Preference.objects.select_for_update().filter(user=actor)}
    now = clock.now()
    changed: dict[str, dict[str, bool]] = {}
    saved: list[Preference] = []
    for kind in (k for k in Kind.values if k in choices):
        portal, email = (bool(v) for v in choices[kind])
        pref = existing.get(kind)
        before = (pref.portal, pref.email) if pref is not None else (True, True)
        if before == (portal, email):
            continue
        if pref is None:
            pref = Preference.objects.create(user=actor, kind=kind, portal=portal, email=email, updated_at=now)
        else:
            pref.portal, pref.email, pref.updated_at = portal, email, now
            pref.save(update_fields=["portal", "email", "updated_at"])
        changed[kind] = {"portal": portal, "email": email}
        saved.append(pref)
    if changed:
        record_event(actor=actor, verb="notification.preferences_changed", target=actor, data={"changed": changed})
    return saved
