"""Reads for renter settings."""

from __future__ import annotations

from accounts.models import User
from renters.models import RenterSettings


def renter_settings_of(user: User) -> RenterSettings | None:
    """The user's own settings row, or None while they have kept every default (no spend limit)."""
    return RenterSettings.objects.filter(user=user).first()
