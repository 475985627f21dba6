"""Telling a user something from an app the notifications app may not import.

The notifications app reads the engine's and billing's hooks itself; an app beside it or above it in
the layers (webhooks) cannot be imported by it, so such an app announces what its user must be told
here, and notifications (connected in its AppConfig.ready) writes it as any other notification: in
the portal and by email, as the user's preferences for that kind say, in the transaction of the change.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with: user_id (int), kind (a notifications kind), title, body, link (may be "").
user_notice = Signal()


def tell(*, user_id: int, kind: str, title: str, body: str, link: str = "") -> None:
    """Announce a notice for ``user_id``; written by whoever listens (notifications), nothing otherwise."""
    user_notice.send(sender=None, user_id=user_id, kind=kind, title=title, body=body, link=link)
