"""Changing a live booking's profile, and undoing that change when the cloud refused the resize.

Rules enforced here (see booking_change_profile): only the renter (or staff); only while confirmed,
provisioning or running; to a profile the offering sells the same way and in the same currency;
never for auction bookings; the new claim must fit over the booking's whole period. The rest of the
booking is repriced from the change on, the part already used keeps its price (the price schedule,
scheduling.pricing), and the funds and price-change checks are asked for any extra.

``booking_change_profile_preview`` answers what a change would cost by making it in a transaction
that is then rolled back (``booking.dry_run``): the same checks, locks and prices, nothing kept, no
hook fired.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import (
    ConflictError,
    DomainError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from marketplace.lib.staff import staff_may
from owners.models import Offering, PricingPolicy
from scheduling import hooks
from scheduling.errors import OfferingNotSelling, SliceTaken
from scheduling.models import CLAIMING_STATES, Booking, BookingState, PricingModel
from scheduling.pricing import _reprice, dynamic_unit_price, price_schedule
from scheduling.services.booking import CostPreview, dry_run
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.state import _fits, _need, is_capacity_violation, offering_peak
from scheduling.slices import RESOURCES, utilisation

log = logging.getLogger(__name__)
S = BookingState

CHANGEABLE_STATES = (S.CONFIRMED, S.PROVISIONING, S.RUNNING)
PROFILE_CHANGED = "booking.profile_changed"
PROFILE_CHANGE_UNDONE = "booking.profile_change_undone"


def _claim(booking: Booking) -> dict[str, Any]:
    return {"profile": booking.profile_id, **booking.resources()}


def _others_peak(offering_id: int, booking: Booking, start: datetime, end: datetime) -> list[int]:
    """Peak use by every claim but this booking's over [start, end) (inside its period: its own claim
    covers all of it, so that is the peak less its own)."""
    peak = offering_peak(offering_id, start, end)
    own = [booking.vcpus, booking.ram_mib, booking.disk_gb, booking.bandwidth_mbps]
    return [p - o for p, o in zip(peak, own, strict=True)]


def booking_change_profile(*, actor: Any, booking_id: int, profile_id: int) -> Booking:
    """Move a live booking to another profile of its offering; the rest of it is repriced.

    Rules: only its renter (or staff; the offering's owner gets 403, anyone else 404); only while
    confirmed, provisioning or running (not under a preemption notice, not ended); the offering must
    sell the profile with the booking's pricing model and currency, and auction bookings cannot change
    (their price is their round's, for their profile). The new claim must fit the offering over the
    booking's period: checked under the offering's row lock (the capacity trigger is the backstop),
    else SliceTaken (409) and nothing changes. From now (or the start, if not started) to the end the
    booking costs the new unit price (fixed: the new profile's price; dynamic: today's dynamic price
    for it); the part already used keeps its price. The schedule of prices is kept on the booking
    and in the audit event (billing charges from it, see price_schedule), the funds check is asked for any extra and
    ``on_booking_changed`` fires after commit.
    """
    now = clock.now()
    booking = Booking.objects.select_related("offering").filter(pk=booking_id).first()
    authenticated = bool(getattr(actor, "is_authenticated", False))
    if booking is None or (
        booking.renter_id != getattr(actor, "pk", None) and not staff_may(actor, "scheduling.change_booking")
    ):
        if booking is not None and authenticated and actor.has_perm("owners.change_offering", booking.offering):
            raise PermissionDeniedError("Only the renter can change a booking's profile.")
        raise NotFoundError("No such booking.")
    if booking.pricing_model == PricingModel.AUCTION:
        raise DomainError(
            "An auction booking cannot change profile: its price was set by its auction round for that profile. "
            "Release it and bid for the profile you need.",
            field="profile",
        )
    policy = (
        PricingPolicy.objects.select_related("profile")
        .filter(offering_id=booking.offering_id, profile_id=profile_id)
        .first()
    )
    if policy is None:
        raise ValidationFailed({"profile": ["This offering does not sell that profile."]})
    profile = policy.profile
    if policy.model != booking.pricing_model:
        raise ValidationFailed(
            {
                "profile": [
                    f"This offering sells {profile.name} by {policy.get_model_display().lower()} and your booking "
                    f"has a {booking.get_pricing_model_display().lower()}: it can only change to a profile sold "
                    "the same way."
                ]
            }
        )
    if policy.currency != booking.currency:
        raise ValidationFailed(
            {"profile": [f"{profile.name} is priced in {policy.currency}; your booking is in {booking.currency}."]}
        )
    too_big = booking.offering.fits(profile)
    if too_big:
        raise ValidationFailed({"profile": [f"Larger than the offering: {', '.join(too_big)}."]})
    try:
        with transaction.atomic():
            return _change_profile(actor=actor, booking_id=booking.pk, policy=policy, now=now)
    except IntegrityError as exc:
        if not is_capacity_violation(exc):
            raise
        raise SliceTaken(
            f"The offering has no capacity left for the {profile.name} profile during your booking; "
            "it keeps its profile."
        ) from exc


def booking_change_profile_preview(*, actor: Any, booking_id: int, profile_id: int) -> CostPreview:
    """What changing the booking's profile would do to its price (``price_before`` -> ``price_after``)
    and charge if it runs to its end (billing's computation), refused as the change would be: the change
    is made and rolled back (``dry_run``)."""
    held = int(Booking.objects.filter(pk=booking_id).values_list("total_price", flat=True).first() or 0)

    def act() -> CostPreview:
        changed = booking_change_profile(actor=actor, booking_id=booking_id, profile_id=profile_id)
        found = hooks.charge_preview(changed, changed.ends_at, "completed")
        return CostPreview(
            action="change_profile",
            currency=changed.currency,
            charge=found.amount if found is not None else None,
            held=held,
            price_before=held,
            price_after=int(changed.total_price or 0),
            booking_id=changed.pk,
            note="From now to the booking's end at the new price; the time already used keeps its price.",
        )

    return dry_run(act)


def _change_profile(*, actor: Any, booking_id: int, policy: PricingPolicy, now: datetime) -> Booking:
    profile = policy.profile
    # Lock order as everywhere: booking, then offering. Only the booking's row: FOR UPDATE on the joined
    # profile deadlocked against purchases of it (tests/concurrency/test_live_change_locks.py).
    locked = Booking.objects.select_for_update(of=("self",)).select_related("profile").get(pk=booking_id)
    if locked.state not in CHANGEABLE_STATES:
        why = " (it is under a preemption notice)" if locked.state == S.NOTICE else ""
        raise InvalidTransition(f"A booking that is {locked.state} cannot change profile{why}.")
    if locked.profile_id == profile.pk:
        raise ValidationFailed({"profile": ["The booking already has this profile."]})
    at = max(now.replace(microsecond=0), locked.starts_at)
    if at >= locked.ends_at:
        raise InvalidTransition("This booking is over: there is nothing left to change.")
    offering = Offering.objects.select_for_update(no_key=True).get(pk=locked.offering_id)
    if offering.status != Offering.Status.PUBLISHED:
        raise OfferingNotSelling(f"The offering {offering.name} is {offering.status}: it sells nothing new.")
    capacity = offering.sellable_capacity()
    others = _others_peak(offering.pk, locked, locked.starts_at, locked.ends_at)
    if not _fits(others, _need(profile), capacity):
        raise SliceTaken(
            f"The offering has no capacity left for the {profile.name} profile during your booking "
            f"(until {locked.ends_at:%Y-%m-%d %H:%M:%S} UTC); it keeps its {locked.profile.name} profile."
        )
    util = None
    if policy.model == PricingPolicy.Model.DYNAMIC:
        rest = others if at == locked.starts_at else _others_peak(offering.pk, locked, at, locked.ends_at)
        util = utilisation(rest, capacity)
        unit = dynamic_unit_price(policy, util)
    else:
        unit = int(policy.price_per_unit or 0)
    before = price_schedule(locked)
    after = _reprice(before, at, locked.ends_at, unit, locked.grid_seconds)
    old_total = sum(p.amount for p in before)
    new_total = sum(p.amount for p in after)
    extra = new_total - old_total
    if extra > 0:
        renter = User.objects.get(pk=locked.renter_id)
        hooks.funds_check(renter, offering, profile, extra, locked.currency)
    if extra:
        hooks.price_change_check(locked, new_total)
    old = {**_claim(locked), "unit_price": locked.unit_price, "total_price": locked.total_price}
    fields = {
        "profile_id": profile.pk,
        **profile.resources(),
        "unit_price": unit,
        "total_price": new_total,
        "price_schedule": [p.as_json() for p in after],
        "updated_at": now,
    }
    if not Booking.objects.filter(pk=locked.pk, state=locked.state).update(**fields):
        raise ConflictError("This booking changed meanwhile; reload and try again.")
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.profile = profile
    new = {**_claim(locked), "unit_price": unit, "total_price": new_total}
    event = record_event(
        actor=actor,
        verb=PROFILE_CHANGED,
        target=locked,
        data={
            "from": old,
            "to": new,
            "at": at.isoformat(),
            "extra": extra,
            "currency": locked.currency,
            "utilisation": round(util, 4) if util is not None else None,
            "price_schedule_before": [p.as_json() for p in before],
            "price_schedule": [p.as_json() for p in after],
        },
    )
    # What an undo puts back (booking_profile_change_undo), kept on the booking with its audit record.
    locked.profile_change = {
        "event": event.pk,
        "from": old,
        "to": new,
        "price_schedule_before": [p.as_json() for p in before],
    }
    Booking.objects.filter(pk=locked.pk).update(profile_change=locked.profile_change)
    prices_record([PricePoint(offering.pk, profile.pk, policy.model, unit, locked.currency, util)], at=now)
    hooks.fire_on_commit("on_booking_changed", locked.pk)
    return locked


def booking_profile_change_undo(*, actor: Any, booking_id: int, reason: str) -> Booking | None:
    """Put a booking back as it was before its latest profile change: claim, prices and schedule.

    For provisioning, when the cloud refused the resize: the renter keeps, and pays for, the profile
    their server still has. Does nothing (None) if the booking no longer claims capacity or has changed
    since; if its old claim no longer fits the offering (a refused shrink whose room was sold
    meanwhile), the change stays, is logged, and None is returned.
    """
    with transaction.atomic():
        locked = Booking.objects.select_for_update().filter(pk=booking_id).first()
        if locked is None or locked.state not in CLAIMING_STATES:
            return None
        change = locked.profile_change  # the latest change, unless undone since
        if not change or change["to"]["profile"] != locked.profile_id:
            return None
        old = change["from"]
        offering = Offering.objects.select_for_update(no_key=True).get(pk=locked.offering_id)
        need = [int(old[r]) for r in RESOURCES]
        if not _fits(
            _others_peak(offering.pk, locked, locked.starts_at, locked.ends_at), need, offering.sellable_capacity()
        ):
            log.warning("booking %s: profile change not undone, its old claim no longer fits", locked.pk)
            return None
        fields = {
            "profile_id": int(old["profile"]),
            **{r: int(old[r]) for r in RESOURCES},
            "unit_price": old["unit_price"],
            "total_price": old["total_price"],
            "price_schedule": change["price_schedule_before"] if len(change["price_schedule_before"]) > 1 else None,
            "profile_change": None,
            "updated_at": clock.now(),
        }
        Booking.objects.filter(pk=locked.pk, state=locked.state).update(**fields)
        for key, value in fields.items():
            setattr(locked, key, value)
        record_event(
            actor=actor,
            verb=PROFILE_CHANGE_UNDONE,
            target=locked,
            data={
                "from": change["to"],
                "to": old,
                "undoes": change["event"],
                "reason": reason,
                "currency": locked.currency,
                "price_schedule": change["price_schedule_before"],
            },
        )
        hooks.fire_on_commit("on_booking_changed", locked.pk)
    return locked
