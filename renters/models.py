"""Renter settings: SSH keys, priority tier, spend limit, and the defaults of a new booking (image, key, SSH range)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from marketplace.lib import clock
from marketplace.lib.money import CURRENCY_CHOICES

SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
)


def parse_ssh_public_key(text: str) -> tuple[str, str, str]:
    """Return (type, base64 body, SHA256 fingerprint) or raise ValidationError saying what is wrong."""
    parts = (text or "").strip().split()
    if len(parts) < 2:
        raise ValidationError("Paste one public key line, like 'ssh-ed25519 AAAA… you@laptop'.")
    key_type, body = parts[0], parts[1]
    if key_type not in SSH_KEY_TYPES:
        raise ValidationError(f"Unsupported key type {key_type!r}; use one of: {', '.join(SSH_KEY_TYPES)}.")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("The key body is not valid base64.") from exc
    if len(raw) < 4 or raw[4 : 4 + int.from_bytes(raw[:4], "big")].decode(errors="replace") != key_type:
        raise ValidationError("The key body does not match its type: was the line cut short?")
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    return key_type, body, fingerprint


class RenterSettings(models.Model):
    class Priority(models.IntegerChoices):
        STANDARD = 0, "Standard"
        SILVER = 1, "Silver"
        GOLD = 2, "Gold"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="renter_settings")
    priority_tier = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.STANDARD, help_text="Breaks ties between equal bids."
    )
    spend_limit = models.BigIntegerField(null=True, blank=True, help_text="Monthly limit in minor units; empty = none.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    # What the buy form starts with (the renter may change it there) and what the server carries.
    default_image = models.CharField(max_length=200, blank=True, default="", help_text="Empty: each offering's first.")
    default_ssh_key = models.ForeignKey(
        "renters.SSHPublicKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The key put on new servers; empty: the newest key.",
    )
    default_ssh_cidrs = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        help_text="Who may reach SSH on new servers; empty: the address the booking is made from.",
    )
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "renter settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_limit__isnull=True) | Q(spend_limit__gte=0),
                name="renters_rentersettings_limit_nonnegative",
                violation_error_message="A spend limit cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"settings of {self.user}"


class SSHPublicKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=80)
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "fingerprint"],
                name="renters_sshpublickey_unique_key",
                violation_error_message="You have already added this key.",
            ),
            models.UniqueConstraint(
                fields=["user", "name"],
                name="renters_sshpublickey_unique_name",
                violation_error_message="You already have a key with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"

    def clean(self) -> None:
        try:
            key_type, body, fingerprint = parse_ssh_public_key(self.public_key)
        except ValidationError as exc:
            raise ValidationError({"public_key": exc.messages}) from exc
        comment = " ".join(self.public_key.strip().split()[2:])
        self.public_key = f"{key_type} {body}" + (f" {comment}" if comment else "")
        self.fingerprint = fingerprint
