"""Staff act on other users' things only with the permission for it.

Being staff (``is_staff``) opens the admin and nothing else: reading a renter's server and console,
preempting or changing someone's booking, managing someone's webhook endpoint each need the model
permission that says so (granted in the admin, per staff member or group). Superusers hold every
permission. The permission matrix (tests/matrix) asks every page and endpoint as a staff member
without permissions and as one with them.
"""

from __future__ import annotations

from typing import Any


def staff_may(user: Any, perm: str) -> bool:
    """True for an active staff member holding ``perm`` ("app_label.codename") globally."""
    return bool(
        getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and user.has_perm(perm)
    )


def is_owner_or_superuser(user: Any) -> bool:
    """Who may use the owner portal and the owner's services: owners, and superusers (support)."""
    return bool(getattr(user, "is_authenticated", False) and (user.is_owner or user.is_superuser))
