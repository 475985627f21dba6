"""Typed access to the acting user in views that already required a login."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest

from accounts.models import User


def actor(request: HttpRequest) -> User:
    """The logged-in user; only for views behind login_required (anonymous users never get here)."""
    if not request.user.is_authenticated:
        raise PermissionError("actor() used in a view that does not require a login")
    return cast(User, request.user)
