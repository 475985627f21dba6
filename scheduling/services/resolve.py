"""Turning a slice id into a checked request: the owner's rules for what may be rented.

Rules enforced here: only renters (or staff) request slices; the offering must exist and be
published; the profile must be priced on it; the slice must lie on the offering's grid, not be in
the past, last a multiple of the grid between the offering's minimum and maximum length, fall
inside its availability windows, and use one of its allowed images (the first by default); on an
offering that allows any image, one of its cloud's public images (``hooks.public_images``), which a
booking must name (``need_image``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accounts.models import User
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationFailed
from owners.availability import covers, window_intervals
from owners.models import Offering, PricingPolicy, SliceProfile
from scheduling import catalogue, hooks
from scheduling.errors import OfferingNotSelling
from scheduling.slices import SliceKey, decode_slice_id, is_aligned


def _require_renter(actor: User) -> None:
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDeniedError("Log in to rent slices.")
    if not (actor.is_renter or actor.is_staff):
        raise PermissionDeniedError("Only renters can request slices; turn on renting in your account.")


@dataclass
class _Request:
    key: SliceKey
    offering: Offering
    policy: PricingPolicy
    profile: SliceProfile
    starts_at: datetime
    ends_at: datetime
    units: int
    image: str
    # The catalogue version the entry was read at (None: not checked when the booking is written),
    # and whether the request has gone to the booking function (from then on a refusal is final).
    version: int | None = None
    sent: bool = False
    # What the server carries (scheduling.services.access): encrypted user-data ('' for none), SSH ranges.
    user_data_encrypted: str = ""
    ssh_cidrs: list[str] = field(default_factory=list)


def _resolve(
    *,
    actor: User,
    slice_id: str | SliceKey,
    duration: int | None,
    image: str | None,
    now: datetime,
    cached: bool = False,
    need_image: bool = False,
) -> _Request:
    """Check the owner's rules for this slice: selling, priced profile, grid, length, windows, image.
    ``cached``: against the entry this process keeps, if any (booking checks its version later);
    ``need_image``: a booking, which must name an image when the offering allows any."""
    _require_renter(actor)
    key = slice_id if isinstance(slice_id, SliceKey) else decode_slice_id(slice_id)
    # One query, or none with a kept entry: the offering, the price of this profile on it (if any)
    # with the profile, and the offering's availability windows.
    offering, policy, weekly, version = catalogue.entry(key.offering_id, key.profile_id, cached=cached)
    if offering is None or offering.status == Offering.Status.DRAFT:
        raise NotFoundError("This slice's offering does not exist.")
    if offering.status != Offering.Status.PUBLISHED:
        raise OfferingNotSelling(f"The offering {offering.name} is {offering.status}: it sells nothing new.")
    if policy is None:
        raise DomainError("This offering has no price for that profile.", field="profile")
    grid = offering.grid_seconds
    starts_at = key.starts_at
    if not is_aligned(starts_at, grid):
        raise ConflictError("The offering's slice grid has changed since this slice was listed; search again.")
    if duration is None:
        duration = key.length
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0 or duration % grid:
        raise ValidationFailed(
            {"duration": [f"The duration must be a positive multiple of the offering's {grid}-second grid."]}
        )
    if not offering.min_length_seconds <= duration <= offering.max_length_seconds:
        raise ValidationFailed(
            {
                "duration": [
                    f"This offering sells {offering.min_length_seconds} to {offering.max_length_seconds} seconds "
                    f"at a time; {duration} seconds is outside that."
                ]
            }
        )
    ends_at = starts_at + timedelta(seconds=duration)
    if starts_at + timedelta(seconds=grid) <= now:
        raise ConflictError("This slice is in the past; search again for slices from now on.")
    if not covers(window_intervals(weekly, offering.timezone, starts_at, ends_at), starts_at, ends_at):
        raise DomainError(
            f"The offering is not available for all of {starts_at:%Y-%m-%d %H:%M:%S} to {ends_at:%H:%M:%S} UTC "
            "(outside its availability windows).",
            field="duration",
        )
    allowed = list(offering.allowed_images or [])
    image = (image or "").strip()
    if image and allowed and image not in allowed:
        raise ValidationFailed({"image": [f"This offering allows only these images: {', '.join(allowed)}."]})
    if not image and allowed:
        image = allowed[0]
    if not allowed and (image or need_image):
        _check_public_image(offering, image)
    return _Request(key, offering, policy, policy.profile, starts_at, ends_at, duration // grid, image, version)


def _check_public_image(offering: Offering, image: str) -> None:
    """An offering that allows any image runs one of its cloud's public images, named by the renter."""
    public = hooks.public_images(offering)
    if not image:
        some = f" (for example: {', '.join(public[:5])})" if public else ""
        raise ValidationFailed({"image": [f"This offering runs any of its cloud's public images: choose one{some}."]})
    if public is not None and image not in public:
        listed = ", ".join(public[:10]) + (", …" if len(public) > 10 else "")
        raise ValidationFailed(
            {"image": [f"{image!r} is not a public image of this offering's cloud; choose one of: {listed}."]}
        )


def _request_fields(actor: User, offering: Offering, profile: SliceProfile, req: Any) -> dict[str, Any]:
    """What every booking row copies from its request: who, where, when, and the profile's resources."""
    return {
        "renter": actor,
        "offering": offering,
        "profile": profile,
        "starts_at": req.starts_at,
        "ends_at": req.ends_at,
        "vcpus": profile.vcpus,
        "ram_mib": profile.ram_mib,
        "disk_gb": profile.disk_gb,
        "bandwidth_mbps": profile.bandwidth_mbps,
        "image": req.image,
        "grid_seconds": offering.grid_seconds,
        "user_data_encrypted": getattr(req, "user_data_encrypted", ""),
        "ssh_cidrs": list(getattr(req, "ssh_cidrs", [])),
    }
