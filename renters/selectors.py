"""Reads for renter settings."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from owners.models import Offering
from renters.models import RenterSettings, SSHPublicKey


def renter_settings_of(user: User) -> RenterSettings | None:
    """The user's own settings row, or None while they have kept every default (no spend limit)."""
    return RenterSettings.objects.filter(user=user).first()


@dataclass(frozen=True)
class RenterDefaults:
    """What a new booking starts with: an image name ('' = the offering's first), the SSH source ranges
    (empty = the address the booking is made from) and the key id (None = the newest key)."""

    image: str = ""
    ssh_cidrs: tuple[str, ...] = ()
    ssh_key_id: int | None = None


def renter_defaults(user: User) -> RenterDefaults:
    row = RenterSettings.objects.filter(user_id=user.pk).values_list(
        "default_image", "default_ssh_cidrs", "default_ssh_key_id"
    )
    found = row.first()
    if found is None:
        return RenterDefaults()
    image, cidrs, key_id = found
    return RenterDefaults(image=image, ssh_cidrs=tuple(cidrs or ()), ssh_key_id=key_id)


def login_key(user_id: int) -> SSHPublicKey | None:
    """The key a renter's new server carries: their default key, else their newest (None: no key)."""
    keys = SSHPublicKey.objects.filter(user_id=user_id)
    default = keys.filter(pk=RenterSettings.objects.filter(user_id=user_id).values("default_ssh_key_id")[:1]).first()
    return default or keys.order_by("-created_at", "-id").first()


def offered_images() -> list[str]:
    """The images published offerings allow by name, sorted: the renter's choices of a default image
    (offerings that allow any image list their cloud's, asked of the cloud at buying time)."""
    names: set[str] = set()
    for allowed in Offering.objects.filter(status=Offering.Status.PUBLISHED).values_list("allowed_images", flat=True):
        names.update(allowed or [])
    return sorted(names)
