"""Writes for renter settings."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, NotFoundError, ValidationFailed
from marketplace.lib.money import format_minor, to_minor
from renters.models import RenterSettings, SSHPublicKey
from renters.selectors import offered_images

# As many SSH source ranges as a booking takes (scheduling.models.SSH_CIDRS_MAX; a test keeps them equal).
SSH_CIDRS_MAX = 10


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


def parse_default_cidrs(text: str) -> list[str]:
    """Addresses or CIDR ranges separated by commas or spaces, normalised (``203.0.113.7`` ->
    ``203.0.113.7/32``, duplicates dropped), or ValidationFailed on ``ssh_cidrs`` naming the bad one."""
    out: list[str] = []
    for part in (p for p in re.split(r"[\s,;]+", text or "") if p):
        try:
            if len(part) > 64 or "%" in part:
                raise ValueError(part)
            normal = str(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValidationFailed(
                {
                    "ssh_cidrs": [
                        f"{part[:64]!r} is not an address or CIDR range (e.g. 203.0.113.7/32 or 2001:db8::/64)."
                    ]
                }
            ) from None
        if normal not in out:
            out.append(normal)
    if len(out) > SSH_CIDRS_MAX:
        raise ValidationFailed({"ssh_cidrs": [f"At most {SSH_CIDRS_MAX} SSH source ranges, {len(out)} given."]})
    return out


@transaction.atomic
def renter_defaults_update(*, actor: User, image: str, ssh_key_id: int | None, ssh_cidrs: str) -> RenterSettings:
    """Set what the renter's new bookings start with: an image that a published offering allows ('' =
    each offering's first), one of the renter's own SSH keys (None = the newest), SSH source ranges
    ('' = the address the booking is made from). Checked whole before anything is written."""
    errors: dict[str, list[str]] = {}
    image = (image or "").strip()
    if image and image not in offered_images():
        errors["image"] = [f"No offering allows the image {image!r}; choose one from the list."]
    if ssh_key_id is not None and not SSHPublicKey.objects.filter(pk=ssh_key_id, user=actor).exists():
        errors["ssh_key"] = ["Choose one of your own SSH keys."]
    try:
        cidrs = parse_default_cidrs(ssh_cidrs)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    row = RenterSettings.objects.select_for_update().get_or_create(user=actor)[0]
    before = {"image": row.default_image, "ssh_key": row.default_ssh_key_id, "ssh_cidrs": list(row.default_ssh_cidrs)}
    after = {"image": image, "ssh_key": ssh_key_id, "ssh_cidrs": cidrs}
    row.default_image, row.default_ssh_key_id, row.default_ssh_cidrs = image, ssh_key_id, cidrs
    row.updated_at = clock.now()
    row.save(update_fields=["default_image", "default_ssh_key", "default_ssh_cidrs", "updated_at"])
    record_event(
        actor=actor, verb="renter_settings.defaults_updated", target=row, data={"before": before, "after": after}
    )
    return row
