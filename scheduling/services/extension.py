"""Extending a live booking in place: its end moves later, on the same server, at the price in force.

Rules enforced here (see booking_extend): only the booking's renter (the offering's owner and admins
get 403, anyone else 404); only while confirmed, provisioning or running (not under a preemption
notice, not ended, not once its end has passed); never for auction slices (their price is their
round's: bid for the next round); by a positive multiple of the offering's grid. The new end must
keep the booking within the offering's longest request, inside its availability windows, and the
capacity the booking claims must be free for [old end, new end): checked under the offering's row
lock, as a purchase is, with the capacity trigger (scheduling/sql/booking_capacity.sql, which
re-checks an UPDATE of a claim's end at commit) as the backstop. When the extension cannot be
granted in full, ExtensionUnavailable (409) says the longest that can (``longest_seconds``, 0 if
none), and asking for that succeeds unless someone takes the room first.

The added time costs the price in force now: fixed, the listed price per grid unit; dynamic, a fresh
dynamic price for the added period (the offering's utilisation over it, as a quote computes it). It
is added to the booking's total and to its price schedule (scheduling.pricing), so billing holds
and charges it at that price (``on_booking_changed`` after commit: the hold follows the new total
and end); the funds and price-change checks are asked for it first. Audited as ``booking.extended``
with the booking before and after.

``dry_run=True`` makes the extension in a transaction that is then rolled back (``booking.dry_run``):
the same checks, locks and prices, what billing would charge, and nothing kept, no hook fired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import (
    ConflictError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from marketplace.lib.staff import staff_may
from owners.availability import window_intervals
from owners.models import Offering, PricingPolicy
from scheduling import catalogue, hooks
from scheduling.errors import ExtensionUnavailable, NotExtendable, OfferingNotSelling
from scheduling.models import Booking, BookingState, PricingModel
from scheduling.pricing import PricePeriod, dynamic_unit_price, price_schedule
from scheduling.services.booking import CostPreview
from scheduling.services.booking import dry_run as _rolled_back
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.state import _fits, is_capacity_violation, offering_peak
from scheduling.slices import utilisation

S = BookingState

EXTENDABLE_STATES = (S.CONFIRMED, S.PROVISIONING, S.RUNNING)
EXTENDED = "booking.extended"
AUCTION_REFUSAL = "Auction slices cannot be extended: bid for the next round."


@dataclass(frozen=True)
class Extension:
    """What an extension did (or, ``dry_run``, would do): the booking as it is after it, the seconds
    and grid units added at ``unit_price`` per unit (``price`` in all, minor units), and ``cost``, what
    the booking then holds and would be charged run to its end (billing's own computation)."""

    booking: Booking
    seconds: int
    units: int
    unit_price: int
    price: int
    cost: CostPreview
    dry_run: bool = False


def _extendable(actor: Any, booking_id: Any) -> Booking:
    """The actor's own booking; the offering's owner and admins get 403, anyone else 404."""
    if isinstance(booking_id, bool) or not isinstance(booking_id, int) or not 0 < booking_id < 2**63:
        raise NotFoundError("No such booking.")
    booking = Booking.objects.select_related("offering").filter(pk=booking_id).first()
    if booking is None or booking.renter_id != getattr(actor, "pk", None):
        if (
            booking is not None
            and getattr(actor, "is_authenticated", False)
            and (
                staff_may(actor, "scheduling.change_booking")
                or actor.has_perm("owners.change_offering", booking.offering)
            )
        ):
            raise PermissionDeniedError("Only the renter can extend a booking.")
        raise NotFoundError("No such booking.")
    return booking


def _check_seconds(seconds: Any, offering: Offering) -> int:
    """The shape of the request: whole seconds, positive, on the grid, no longer than the offering sells."""
    grid = offering.grid_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0 or seconds % grid:
        raise ValidationFailed(
            {"duration": [f"The extension must be a positive multiple of the offering's {grid}-second grid."]}
        )
    if seconds > offering.max_length_seconds:
        raise ValidationFailed(
            {
                "duration": [
                    f"This offering sells at most {offering.max_length_seconds} seconds at a time; "
                    f"{seconds} seconds is more than that."
                ]
            }
        )
    return seconds


def _floor(seconds: float, grid: int) -> int:
    return max(int(seconds) // grid * grid, 0)


@dataclass(frozen=True)
class _Limits:
    """How far the booking's end may move: by the offering's longest request, its availability
    windows, and both together (``rules``); capacity is looked at only within ``rules``."""

    by_length: int
    by_windows: int

    @property
    def rules(self) -> int:
        return min(self.by_length, self.by_windows)


def _limits(booking: Booking, offering: Offering, weekly: Any) -> _Limits:
    grid, end = offering.grid_seconds, booking.ends_at
    by_length = _floor(offering.max_length_seconds - booking.duration_seconds, grid)
    by_windows = 0
    if by_length:
        # The windows' open time that continues from the booking's end (merged intervals: the first
        # one starts at the end if the end is inside a window).
        open_ = window_intervals(weekly, offering.timezone, end, end + timedelta(seconds=by_length))
        if open_ and open_[0][0] <= end:
            by_windows = _floor((open_[0][1] - end).total_seconds(), grid)
    return _Limits(by_length, min(by_windows, by_length))


def _room(offering: Offering, booking: Booking, want: int, capacity: dict[str, int]) -> int:
    """The longest extension (a grid multiple, at most ``want``) whose capacity is free after the
    booking. The peak over [end, end + x) only grows with x, so: one check for ``want``, else a binary
    search over grid units. Caller holds the offering's lock."""
    grid, end = offering.grid_seconds, booking.ends_at
    need = [booking.vcpus, booking.ram_mib, booking.disk_gb, booking.bandwidth_mbps]

    def fits(units: int) -> bool:
        return _fits(offering_peak(offering.pk, end, end + timedelta(seconds=units * grid)), need, capacity)

    top = want // grid
    if top == 0 or fits(top):
        return top * grid
    lo, hi = 0, top - 1  # lo fits (0 always does), top does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo * grid


def _refusal(seconds: int, longest: int, limits: _Limits, booking: Booking, offering: Offering) -> ExtensionUnavailable:
    end = booking.ends_at
    if seconds > limits.by_length:
        why = (
            f"this offering sells at most {offering.max_length_seconds} seconds at a time and the booking is "
            f"already {booking.duration_seconds} seconds long"
        )
    elif seconds > limits.by_windows:
        closes = end + timedelta(seconds=limits.by_windows)
        why = f"the offering's availability windows close at {closes:%Y-%m-%d %H:%M:%S} UTC"
    else:
        taken = end + timedelta(seconds=longest)
        why = f"the offering's capacity from {taken:%Y-%m-%d %H:%M:%S} UTC is taken"
    can = f"it can be extended by at most {longest} seconds" if longest else "it cannot be extended now"
    return ExtensionUnavailable(
        f"The booking cannot be extended by {seconds} seconds: {why}; {can}.", longest_seconds=longest
    )


def _policy(booking: Booking) -> tuple[PricingPolicy, Any]:
    """The price in force for the booking's profile, and the offering's windows (read afresh)."""
    offering, policy, weekly, _ = catalogue.entry(booking.offering_id, booking.profile_id, cached=False)
    if offering is None or policy is None:
        raise NotExtendable("The offering no longer sells this booking's profile: it cannot be extended.")
    if policy.model == PricingPolicy.Model.AUCTION:
        raise NotExtendable(AUCTION_REFUSAL)
    if policy.model != booking.pricing_model or policy.currency != booking.currency:
        raise NotExtendable(
            f"The offering now sells {policy.profile.name} by {policy.get_model_display().lower()} in "
            f"{policy.currency}; this booking has a {booking.get_pricing_model_display().lower()} in "
            f"{booking.currency}: it cannot be extended. Book the following slice instead."
        )
    return policy, weekly


def booking_extend(*, actor: Any, booking_id: int, seconds: int, dry_run: bool = False) -> Extension:
    """Move the end of the renter's confirmed, provisioning or running booking ``seconds`` later.

    Refused: not the renter (403 owner/admin, 404 anyone else); an auction slice, or a profile the
    offering no longer sells the same way (NotExtendable, 409); under notice or ended
    (InvalidTransition, 409); ``seconds`` not a positive grid multiple within the offering's longest
    request (400). When the longest request, the windows or the capacity after the booking allow
    less than asked, ExtensionUnavailable (409) with ``longest_seconds``; nothing changes. The added
    units cost the price in force (fixed: listed; dynamic: today's for the added period), added to
    the total and the price schedule; ``on_booking_changed`` fires after commit.
    """
    booking = _extendable(actor, booking_id)
    if booking.pricing_model == PricingModel.AUCTION:
        raise NotExtendable(AUCTION_REFUSAL)
    seconds = _check_seconds(seconds, booking.offering)
    if dry_run:
        return _rolled_back_extension(actor=actor, booking=booking, seconds=seconds)
    return _extend_committed(actor=actor, booking=booking, seconds=seconds)


def _extend_committed(*, actor: Any, booking: Booking, seconds: int) -> Extension:
    held = int(booking.total_price or 0)
    try:
        with transaction.atomic():
            ext = _extend(actor=actor, booking_id=booking.pk, seconds=seconds, now=clock.now())
    except IntegrityError as exc:
        if not is_capacity_violation(exc):
            raise
        # The database's backstop refused the claim at commit (someone slipped past the lock): the
        # same answer as the check under the lock, with the longest that fits now.
        raise _backstop_refusal(booking.pk, seconds) from exc
    return _with_cost(ext, held, dry_run=False)


def _rolled_back_extension(*, actor: Any, booking: Booking, seconds: int) -> Extension:
    held = int(booking.total_price or 0)
    found: list[Extension] = []

    def act() -> CostPreview:
        ext = _with_cost(
            _extend(actor=actor, booking_id=booking.pk, seconds=seconds, now=clock.now()), held, dry_run=True
        )
        found.append(ext)
        return ext.cost

    _rolled_back(act)
    return found[0]


def _with_cost(ext: Extension, held: int, *, dry_run: bool) -> Extension:
    booking = ext.booking
    preview = hooks.charge_preview(booking, booking.ends_at, "completed")
    cost = CostPreview(
        action="extend",
        currency=booking.currency,
        charge=preview.amount if preview is not None else None,
        held=held,
        price_before=held,
        price_after=int(booking.total_price or 0),
        booking_id=booking.pk,
        note=f"{ext.seconds} more seconds ({ext.units} grid units) at the price in force, added to what is held; "
        "the booking is charged for the time used when it ends.",
    )
    return Extension(booking, ext.seconds, ext.units, ext.unit_price, ext.price, cost, dry_run)


def _backstop_refusal(booking_id: int, seconds: int) -> ExtensionUnavailable:
    with transaction.atomic():
        booking = Booking.objects.select_for_update(of=("self",)).select_related("offering").get(pk=booking_id)
        offering = Offering.objects.select_for_update(no_key=True).get(pk=booking.offering_id)
        try:
            _, weekly = _policy(booking)
        except NotExtendable:
            weekly = []
        limits = _limits(booking, offering, weekly)
        longest = _room(offering, booking, limits.rules, offering.sellable_capacity())
        refusal = _refusal(seconds, longest, limits, booking, offering)
    if seconds <= longest:  # it fits again now: still, this attempt was refused
        return ExtensionUnavailable(
            "This extension was just refused: the offering's capacity after your booking was taken meanwhile. "
            "Try again.",
            longest_seconds=longest,
        )
    return refusal


def _extend(*, actor: Any, booking_id: int, seconds: int, now: datetime) -> Extension:
    # Lock order as everywhere: booking, then offering. Only the booking's row (of=self): FOR UPDATE on
    # the joined profile would block every purchase of that profile (its INSERT takes KEY SHARE on the
    # profile through the foreign key) while this waits for the offering's lock that purchase holds: a
    # deadlock the race test found.
    locked = Booking.objects.select_for_update(of=("self",)).select_related("profile").get(pk=booking_id)
    if locked.state not in EXTENDABLE_STATES:
        why = " (it is under a preemption notice: its end is the owner's deadline)" if locked.state == S.NOTICE else ""
        raise InvalidTransition(f"A booking that is {locked.state} cannot be extended{why}.")
    if locked.ends_at <= now:
        raise InvalidTransition("This booking is over: there is nothing left to extend.")
    offering = Offering.objects.select_for_update(no_key=True).get(pk=locked.offering_id)
    if offering.status != Offering.Status.PUBLISHED:
        raise OfferingNotSelling(f"The offering {offering.name} is {offering.status}: it sells nothing new.")
    grid = offering.grid_seconds
    if grid != locked.grid_seconds:
        raise NotExtendable(
            f"The offering's slice grid is now {grid} seconds (this booking's is {locked.grid_seconds}): "
            "it cannot be extended. Book the following slice instead."
        )
    policy, weekly = _policy(locked)
    capacity = offering.sellable_capacity()
    limits = _limits(locked, offering, weekly)
    if seconds > limits.rules:
        raise _refusal(seconds, _room(offering, locked, limits.rules, capacity), limits, locked, offering)
    if _room(offering, locked, seconds, capacity) < seconds:
        raise _refusal(seconds, _room(offering, locked, limits.rules, capacity), limits, locked, offering)

    old_end, new_end, units = locked.ends_at, locked.ends_at + timedelta(seconds=seconds), seconds // grid
    util = None
    if policy.model == PricingPolicy.Model.DYNAMIC:
        # A fresh quote for the added period: the offering's utilisation over it (the booking claims
        # nothing there yet), as quotes and purchases price a slice.
        util = utilisation(offering_peak(offering.pk, old_end, new_end), capacity)
        unit = dynamic_unit_price(policy, util)
    else:
        unit = int(policy.price_per_unit or 0)
    added = unit * units
    old_total = int(locked.total_price or 0)
    new_total = old_total + added
    before = price_schedule(locked)
    if not locked.price_schedule and unit == int(locked.unit_price or 0):
        after = [PricePeriod(locked.starts_at, new_end, unit, new_total)]  # still one price throughout
        schedule: list[dict[str, Any]] | None = None
    else:
        after = [*before, PricePeriod(old_end, new_end, unit, added)]
        schedule = [p.as_json() for p in after]
    if added > 0:
        renter = User.objects.get(pk=locked.renter_id)
        hooks.funds_check(renter, offering, locked.profile, added, locked.currency)
        hooks.price_change_check(locked, new_total)

    old = {"ends_at": old_end.isoformat(), "unit_price": locked.unit_price, "total_price": locked.total_price}
    fields: dict[str, Any] = {
        "ends_at": new_end,
        "unit_price": unit,
        "total_price": new_total,
        "price_schedule": schedule,
        "updated_at": now,
    }
    change = locked.profile_change
    if change:
        # An undo of the latest profile change (a refused resize) puts back the old profile's prices:
        # it keeps the extension too, at the old profile's unit price.
        from_unit = int(change["from"]["unit_price"] or 0)
        change = {
            **change,
            "from": {**change["from"], "total_price": int(change["from"]["total_price"] or 0) + from_unit * units},
            "price_schedule_before": [
                *change["price_schedule_before"],
                PricePeriod(old_end, new_end, from_unit, from_unit * units).as_json(),
            ],
        }
        fields["profile_change"] = change
    if not Booking.objects.filter(pk=locked.pk, state=locked.state, ends_at=old_end).update(**fields):
        raise ConflictError("This booking changed meanwhile; reload and try again.")
    for key, value in fields.items():
        setattr(locked, key, value)
    record_event(
        actor=actor,
        verb=EXTENDED,
        target=locked,
        data={
            "from": old,
            "to": {"ends_at": new_end.isoformat(), "unit_price": unit, "total_price": new_total},
            "seconds": seconds,
            "units": units,
            "unit_price": unit,
            "extra": added,
            "currency": locked.currency,
            "pricing_model": policy.model,
            "utilisation": round(util, 4) if util is not None else None,
            "price_schedule_before": [p.as_json() for p in before],
            "price_schedule": [p.as_json() for p in after],
        },
    )
    prices_record([PricePoint(offering.pk, locked.profile_id, policy.model, unit, locked.currency, util)], at=now)
    # In this transaction: the webhooks outbox tells the renter's endpoints "booking.extended".
    hooks.booking_event(
        locked.pk,
        "extended",
        locked.state,
        locked.state,
        now,
        data={"ends_at": new_end, "previous_ends_at": old_end, "total_price": new_total},
    )
    hooks.fire_on_commit("on_booking_changed", locked.pk)
    return Extension(
        locked, seconds, units, unit, added, CostPreview(action="extend", currency=locked.currency, charge=None)
    )
