"""Turning a slice id into a checked request: the owner's rules for what may be rented.

Rules enforced here: only renters (or staff) request slices; the offering must exist and be
published; the profile must be priced on it; the slice must lie on the offering's grid, not be in
the past, last a multiple of the grid between the offering's minimum and maximum length, fall
inside its availability windows, and use one of its allowed images (the first by default).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.db import connection

from accounts.models import User
from marketplace.lib.db import fetch_prepared
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationFailed
from owners.availability import covers, window_intervals
from owners.models import Offering, PricingPolicy, SliceProfile
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


class _Loader:
    """Model instances from the columns of a hand-written SELECT (the ORM's compile step costs more
    than the query on the booking path). Columns come from the model's own metadata, so a new field
    is read without touching the SQL; converters (JSON) are applied as the ORM would."""

    def __init__(self, model: type[Any], alias: str) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.names = [f.attname for f in fields]
        self.sql = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
        self.converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
        self.width = len(fields)

    def load(self, row: Sequence[Any], offset: int) -> Any:
        values = list(row[offset : offset + self.width])
        if values[0] is None:  # outer join found nothing
            return None
        for i, convert in self.converters:
            if values[i] is not None:
                values[i] = convert(values[i], None, connection)
        return self.model.from_db(connection.alias, self.names, values)


_CATALOGUE: dict[str, Any] = {}

# Entries booking has read, per database name: (catalogue version, {(offering id, profile id): entry}).
# An entry is (offering, policy with offering and profile, weekly windows); shared, read-only. Only
# fixed and dynamic prices are kept: scheduling_booking_request checks their version when the
# booking is written (migration 0011) and says 'stale' if the catalogue has changed since; bids
# and quotes read afresh every time.
_ENTRIES: dict[str, tuple[int, dict[tuple[int, int], tuple[Offering, PricingPolicy, list]]]] = {}
_ENTRIES_MAX = 4096


class _CatalogueStale(Exception):
    """The catalogue changed after the entry a request was checked against was read."""


def _catalogue_entry(
    offering_id: int, profile_id: int, *, cached: bool = False
) -> tuple[Offering | None, PricingPolicy | None, list, int | None]:
    """The offering, its price for the profile (policy.offering/profile filled), its weekly windows
    and the catalogue version they were read at. ``cached``: a kept entry, when there is one."""
    db = connection.settings_dict["NAME"]
    if cached:
        version, entries = _ENTRIES.get(db, (None, {}))
        hit = entries.get((offering_id, profile_id))
        if hit is not None:
            return (*hit, version)
    if not _CATALOGUE:
        loaders = (_Loader(Offering, "o"), _Loader(PricingPolicy, "p"), _Loader(SliceProfile, "s"))
        _CATALOGUE["loaders"] = loaders
        # Column names come from model metadata (quoted); every value is a bound parameter.
        _CATALOGUE["sql"] = (
            f"SELECT {loaders[0].sql}, {loaders[1].sql}, {loaders[2].sql}, "  # noqa: S608
            "(SELECT coalesce(json_agg(json_build_object('weekdays', w.weekdays, 'start', w.start_time, "
            "'end', w.end_time)), '[]')::text FROM owners_availabilitywindow w WHERE w.offering_id = o.id), "
            "(SELECT v.version FROM scheduling_catalogue_version v WHERE v.id = 1) "
            "FROM owners_offering o "
            "LEFT JOIN owners_pricingpolicy p ON p.offering_id = o.id AND p.profile_id = %s "
            "LEFT JOIN owners_sliceprofile s ON s.id = p.profile_id "
            "WHERE o.id = %s"
        )
    loaders = _CATALOGUE["loaders"]
    # A server-side prepared statement: planning this join took longer than running it, on every booking.
    rows = fetch_prepared(_CATALOGUE["sql"], [profile_id, offering_id])
    if not rows:
        return None, None, [], None
    row = rows[0]
    offering = loaders[0].load(row, 0)
    policy = loaders[1].load(row, loaders[0].width)
    if policy is not None:
        policy.offering = offering
        policy.profile = loaders[2].load(row, loaders[0].width + loaders[1].width)
    weekly = [
        (w["weekdays"], time.fromisoformat(w["start"]), time.fromisoformat(w["end"])) for w in json.loads(row[-2])
    ]
    version = row[-1]
    if (
        policy is not None
        and policy.model != PricingPolicy.Model.AUCTION
        and offering.status == Offering.Status.PUBLISHED
    ):
        known, entries = _ENTRIES.get(db, (None, {}))
        if known != version or len(entries) >= _ENTRIES_MAX:
            entries = {}
            _ENTRIES[db] = (version, entries)
        entries[(offering_id, profile_id)] = (offering, policy, weekly)
    return offering, policy, weekly, version


def _resolve(
    *,
    actor: User,
    slice_id: str | SliceKey,
    duration: int | None,
    image: str | None,
    now: datetime,
    cached: bool = False,
) -> _Request:
    """Check the owner's rules for this slice: selling, priced profile, grid, length, windows, image.
    ``cached``: against the entry this process keeps, if any (booking checks its version later)."""
    _require_renter(actor)
    key = slice_id if isinstance(slice_id, SliceKey) else decode_slice_id(slice_id)
    # One query, or none with a kept entry: the offering, the price of this profile on it (if any)
    # with the profile, and the offering's availability windows.
    offering, policy, weekly, version = _catalogue_entry(key.offering_id, key.profile_id, cached=cached)
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
    return _Request(key, offering, policy, policy.profile, starts_at, ends_at, duration // grid, image, version)


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
    }
