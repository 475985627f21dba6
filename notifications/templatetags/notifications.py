"""The navigation's unread badge: one indexed count per page (notifications_unread)."""

from __future__ import annotations

from typing import Any

from django import template

from notifications import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: Any) -> int:
    user = getattr(context.get("request"), "user", None) or context.get("user")
    if user is None or not user.is_authenticated:
        return 0
    return selectors.unread_count(user)
