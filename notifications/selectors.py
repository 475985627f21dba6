"""Reads: a user's portal notifications (never anyone else's) and their unread count."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from notifications.kinds import Kind, kinds_for
from notifications.models import Notification, Preference


def notifications_for(user: User) -> QuerySet[Notification]:
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user=user, in_portal=True).order_by("-id")


def unread_count(user: User) -> int:
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, in_portal=True, read_at__isnull=True).count()


def preferences_for(user: User) -> list[tuple[Kind, bool, bool]]:
    """Every kind the user can receive, with (portal, email): a kind without a row is on both ways."""
    rows = {p.kind: p for p in Preference.objects.filter(user=user)}
    return [
        (k, rows[k].portal if k in rows else True, rows[k].email if k in rows else True)
        for k in kinds_for(is_owner=user.is_owner)
    ]
