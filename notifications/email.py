"""Emailing notifications, after the transaction that wrote them (a task per notification, and a sweep).

A send claims the row first (pending -> sent, a conditional UPDATE that only one worker wins), then
sends through Django's email backend; a failure puts it back to pending for the sweep, up to
MAX_ATTEMPTS, then gives up (failed). A worker that dies between the claim and the send loses that
one email (it is at most once: a duplicate is worse than a miss for a notice the portal also shows).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse

from marketplace.lib import clock
from notifications.models import Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
SWEEP_AFTER = timedelta(minutes=1)  # younger pending emails are still the on-commit task's


def _absolute(path: str) -> str:
    base = str(getattr(settings, "MARKETPLACE_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}" if path else ""


def send(notification_id: int) -> bool:
    """Email one notification if it is still pending; True if it was sent now."""
    won = Notification.objects.filter(pk=notification_id, email_state=Notification.EmailState.PENDING).update(
        email_state=Notification.EmailState.SENT, emailed_at=clock.now(), email_attempts=F("email_attempts") + 1
    )
    if not won:
        return False
    n = Notification.objects.select_related("user").get(pk=notification_id)
    context = {
        "n": n,
        "link": _absolute(n.link),
        "preferences": _absolute(reverse("notifications:preferences")),
        "site_name": "Slice Market",
    }
    try:
        send_mail(
            subject=f"[Slice Market] {n.title}",
            message=render_to_string("notifications/email.txt", context),
            from_email=None,
            recipient_list=[n.user.email],
        )
    except Exception:
        state = Notification.EmailState.FAILED if n.email_attempts >= MAX_ATTEMPTS else Notification.EmailState.PENDING
        Notification.objects.filter(pk=n.pk).update(email_state=state, emailed_at=None)
        log.warning(
            "notifications: could not email notification %s (attempt %s)", n.pk, n.email_attempts, exc_info=True
        )
        return False
    return True


def sweep(limit: int = 500) -> int:
    """Send the pending emails whose on-commit task was lost or failed; returns how many were sent."""
    due = Notification.objects.filter(
        email_state=Notification.EmailState.PENDING, created_at__lte=clock.now() - SWEEP_AFTER
    ).order_by("created_at")
    return sum(send(pk) for pk in due.values_list("pk", flat=True)[:limit])
