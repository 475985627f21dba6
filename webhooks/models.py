"""Outgoing webhooks: a user's endpoints, the outbox of events, deliveries and each attempt.

The outbox (Event, and one Delivery per subscribed endpoint) is written in the transaction of the
change it reports (webhooks.events); Celery delivers it afterwards (webhooks.delivery). An event's
``body`` is the exact JSON sent, frozen when the event happened, so every attempt and redelivery
sends the same bytes with the same ``event_id``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from marketplace.lib import clock


class EventType(models.TextChoices):
    BID_PLACED = "bid.placed", "Bid placed or raised"
    BID_OUTBID = "bid.outbid", "Outbid"
    BID_WON = "bid.won", "Auction won"
    BOOKING_CONFIRMED = "booking.confirmed", "Booking confirmed"
    BOOKING_REJECTED = "booking.rejected", "Booking rejected"
    BOOKING_PROVISIONING = "booking.provisioning", "Server being prepared"
    BOOKING_RUNNING = "booking.running", "Server running"
    BOOKING_EXTENDED = "booking.extended", "Booking extended"
    BOOKING_NOTICE = "booking.notice", "Preemption notice (with its deadline)"
    BOOKING_ENDED = "booking.ended", "Booking ended (completed, released, preempted, failed)"
    BOOKING_CHARGED = "booking.charged", "Final charge of a booking"
    PAYMENT_FAILED = "payment.failed", "Payment failed"
    BALANCE_LOW = "balance.low", "Prepaid balance low"
    PAYOUT_PAID = "payout.paid", "Payout paid (owners)"


class Endpoint(models.Model):
    """A URL of a user's that receives the events it subscribed to, signed with its secret."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=40, choices=EventType.choices))
    # Fernet ciphertext (marketplace.lib.crypto); the plaintext is shown once, on creation and rotation.
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "is_active"], name="webhooks_endpoint_user_active")]
        constraints = [
            models.CheckConstraint(condition=~Q(event_types=[]), name="%(app_label)s_%(class)s_has_event_types"),
        ]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """One event of the outbox: what happened, for whom, as the JSON body every delivery sends."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EventType.choices)
    booking_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="webhooks_event_user")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    """An event owed to one endpoint, until it answered 2xx (delivered) or ran out of attempts (failed).

    Deliveries of the same booking to the same endpoint go in ``id`` order: one is not attempted
    while an earlier one of its booking is still pending (``ordered``; a manual redelivery is not
    ordered: it neither waits nor holds anything back).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    booking_id = models.BigIntegerField(null=True, blank=True)  # the event's, for the order check
    ordered = models.BooleanField(default=True)
    manual = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=clock.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=Q(state="pending"),
                name="webhooks_delivery_due",
            ),
            models.Index(
                fields=["endpoint", "booking_id", "id"],
                condition=Q(state="pending", ordered=True),
                name="webhooks_delivery_order",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "delivered", "failed"]), name="%(app_label)s_%(class)s_state"
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt: the answer's status (None: no answer), latency, our error, the answer's start."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=clock.now)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    response_body = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} ({self.status_code or self.error})"
