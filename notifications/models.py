"""Notifications: what a user was told (portal, with read state; email) and which kinds they want.

A Notification is written in the transaction of the change it reports (notifications.events), so a
rolled-back change tells nobody and a committed one is never lost; its email is sent after commit
(notifications.email). A kind the user switched off in the portal but not by email is still a row
(``in_portal`` false: never listed nor counted) so the email has something to be sent from.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.lib import clock
from notifications.kinds import Kind


class Notification(models.Model):
    class EmailState(models.TextChoices):
        NONE = "none", "Not emailed (switched off)"
        PENDING = "pending", "To be emailed"
        SENT = "sent", "Emailed"
        FAILED = "failed", "Email failed (gave up)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="A portal path to what it is about.")
    booking_id = models.BigIntegerField(null=True, blank=True)
    in_portal = models.BooleanField(default=True)
    email_state = models.CharField(max_length=10, choices=EmailState.choices, default=EmailState.NONE)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], condition=Q(in_portal=True), name="notifications_user_list"),
            # The navigation badge counts these on every page.
            models.Index(
                fields=["user"], condition=Q(in_portal=True, read_at__isnull=True), name="notifications_unread"
            ),
            models.Index(fields=["created_at"], condition=Q(email_state="pending"), name="notifications_email_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="%(app_label)s_%(class)s_kind_valid"),
            models.CheckConstraint(
                condition=Q(email_state__in=["none", "pending", "sent", "failed"]),
                name="%(app_label)s_%(class)s_email_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.title[:40]}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Preference(models.Model):
    """A user's choice for one kind; a kind without a row is on in the portal and by email."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    portal = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="%(app_label)s_%(class)s_one_per_kind"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="%(app_label)s_%(class)s_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: portal {self.portal}, email {self.email}"
