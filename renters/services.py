"""Writes for renter settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, NotFoundError, ValidationFailed
from marketplace.lib.money import format_minor, to_minor
from renters.models import RenterSettings, SSHPublicKey


@transaction.atomic
def ssh_key_add(*, actor: User, name: str, public_key: str) -> SSHPublicKey:
    """Add a public key after checking its type, encoding and that it is not already there."""
    key = SSHPublicKey(user=actor, name=(name or "").strip(), public_key=public_key or "")
    try:
        key.full_clean()
    except ValidationError as exc:
        raise ValidationFailed(exc.message_dict) from exc
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError as exc:
        raise ConflictError("You have already added this key.") from exc
    record_event(actor=actor, verb="ssh_key.added", target=key, data={"fingerprint": key.fingerprint})
    return key


@transaction.atomic
def ssh_key_remove(*, actor: User, key_id: int) -> None:
    key = SSHPublicKey.objects.filter(pk=key_id, user=actor).first()
    if key is None:
        raise NotFoundError("No such key.")
    record_event(actor=actor, verb="ssh_key.removed", target=key, data={"fingerprint": key.fingerprint})
    key.delete()


@transaction.atomic
def renter_settings_update(*, actor: User, spend_limit: int | None, currency: str) -> RenterSettings:
    """Set the renter's monthly spend limit (minor units of ``currency``; None: no limit). Billing's funds
    check refuses a booking that would take this calendar month's spending above it."""
    row = RenterSettings.objects.select_for_update().get_or_create(user=actor)[0]
    if spend_limit is not None and spend_limit < 0:
        raise ValidationFailed({"spend_limit": ["A spend limit cannot be negative."]})
    # The operator's maximum (BILLING_SPEND_LIMIT_MAX, major units, one number or per currency).
    bound = settings.BILLING_SPEND_LIMIT_MAX
    top = bound.get(currency, bound.get("*"))
    if spend_limit is not None and top is not None and spend_limit > to_minor(top, currency):
        most = format_minor(to_minor(top, currency), currency)
        raise ValidationFailed({"spend_limit": [f"The monthly spend limit can be at most {most}."]})
    before = {"spend_limit": row.spend_limit, "currency": row.currency}
    row.spend_limit, row.currency, row.updated_at = spend_limit, currency, clock.now()
    row.save(update_fields=["spend_limit", "currency", "updated_at"])
    record_event(
        actor=actor,
        verb="renter_settings.updated",
        target=row,
        data={"before": before, "after": {"spend_limit": spend_limit, "currency": currency}},
    )
    return row
