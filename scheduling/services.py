"""Writes of the market: request, quote, bid, confirm or reject, change profile, release, preempt, clear auctions.

Every state change of a Booking goes through ``_move`` (a conditional
``UPDATE ... WHERE id = %s AND state = old`` whose row count says whether this
caller won) and is audited in the same transaction. Claims are created only
under the offering's row lock after the SQL peak check; the deferred trigger
``scheduling_booking_capacity`` refuses any claim that slips past (mapped to
SliceTaken, 409).

Lock order, to avoid deadlocks: auction round(s) -> booking(s) -> offering.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, OperationalError, connection, transaction

from accounts.models import User
from audit import context as audit_context
from audit.models import DomainEvent
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.db import fetch_prepared
from marketplace.lib.errors import (
    ConflictError,
    DomainError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from marketplace.lib.money import MoneyError, format_minor, prorate, to_minor
from owners.availability import covers, window_intervals
from owners.models import Offering, PricingPolicy, SliceProfile
from scheduling import hooks
from scheduling.errors import BiddingClosed, OfferingNotSelling, QuoteExpired, SliceTaken
from scheduling.models import (
    CLAIMING_STATES,
    AuctionRound,
    Booking,
    BookingState,
    Notification,
    PriceHistory,
    PricingModel,
    Quote,
)
from scheduling.pricing import dynamic_unit_price
from scheduling.slices import RESOURCES, SliceKey, Timeline, decode_slice_id, is_aligned, resource_weight, utilisation

log = logging.getLogger(__name__)
S = BookingState

# The one table of allowed moves. Final states have no way out.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.CONFIRMED, S.REJECTED, S.OUTBID, S.RELEASED}),
    S.CONFIRMED: frozenset({S.PROVISIONING, S.RUNNING, S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.PROVISIONING: frozenset({S.RUNNING, S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.RUNNING: frozenset({S.NOTICE, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.NOTICE: frozenset({S.PREEMPTED, S.RELEASED, S.COMPLETED, S.FAILED}),
    S.REJECTED: frozenset(),
    S.OUTBID: frozenset(),
    S.COMPLETED: frozenset(),
    S.RELEASED: frozenset(),
    S.PREEMPTED: frozenset(),
    S.FAILED: frozenset(),
}
ENDED = (S.RELEASED, S.PREEMPTED, S.COMPLETED, S.FAILED)
CAPACITY_CONSTRAINT = "scheduling_booking_capacity"


# ---- helpers ------------------------------------------------------------------------------------


def is_capacity_violation(exc: BaseException) -> bool:
    """True when a database error is the capacity trigger refusing a claim."""
    cause = getattr(exc, "__cause__", None) or exc
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == CAPACITY_CONSTRAINT


def offering_peak(offering_id: int, start: datetime, end: datetime) -> list[int]:
    """Peak use of each resource by claims on the offering over [start, end), computed by PostgreSQL."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_offering_peak(%s, %s, %s)",
            [offering_id, start, end],
        )
        row = cur.fetchone()
    return [int(v) for v in row]


def _fits(peak: list[int], need: list[int], capacity: dict[str, int]) -> bool:
    return all(peak[i] + need[i] <= capacity[r] for i, r in enumerate(RESOURCES))


def _need(profile: SliceProfile) -> list[int]:
    return [profile.vcpus, profile.ram_mib, profile.disk_gb, profile.bandwidth_mbps]


def _next_bid_sequence() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('scheduling_bid_arrival_seq')")
        return int(cur.fetchone()[0])


def _require_renter(actor: User) -> None:
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDeniedError("Log in to rent slices.")
    if not (actor.is_renter or actor.is_staff):
        raise PermissionDeniedError("Only renters can request slices; turn on renting in your account.")


def _money(amount: int | None, currency: str) -> str:
    return format_minor(int(amount or 0), currency)


def _move(
    booking: Booking,
    to: str,
    *,
    actor: Any,
    reason: str = "",
    now: datetime | None = None,
    verb: str | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Booking:
    """Change a booking's state if the table allows it and nobody changed it first. Caller holds a transaction."""
    old = booking.state
    if to not in TRANSITIONS.get(old, frozenset()):
        raise InvalidTransition(f"A booking that is {old} cannot become {to}.")
    now = now or clock.now()
    values: dict[str, Any] = {"state": to, "updated_at": now, **fields}
    if reason:
        values["reason"] = reason[:300]
    if to == S.CONFIRMED and "confirmed_at" not in values:
        values["confirmed_at"] = now
    if to in ENDED and "ended_at" not in values:
        values["ended_at"] = now
    won = Booking.objects.filter(pk=booking.pk, state=old).update(**values)
    if not won:
        current = Booking.objects.filter(pk=booking.pk).values_list("state", flat=True).first()
        raise ConflictError(f"This booking changed meanwhile (it is now {current}); reload and try again.")
    for key, value in values.items():
        setattr(booking, key, value)
    event = {"from": old, "to": to}
    if reason:
        event["reason"] = reason
    if data:
        event.update(data)
    record_event(actor=actor, verb=verb or f"booking.{to}", target=booking, data=event)
    if to == S.CONFIRMED:
        hooks.fire_on_commit("on_booking_confirmed", booking.pk)
    elif to == S.NOTICE:
        hooks.fire_on_commit("on_booking_notice", booking.pk)
    elif to == S.OUTBID:
        hooks.fire_on_commit("on_bid_lost", booking.pk)
    elif to in ENDED:
        hooks.fire_on_commit("on_booking_ended", booking.pk, to)
    return booking


@transaction.atomic
def booking_transition(*, actor: Any, booking: Booking, to: str, reason: str = "", **fields: Any) -> Booking:
    """Move a booking to ``to`` (provisioning, running, completed, failed, ...) if the state machine allows it.

    For provisioning and billing: raises InvalidTransition for a move the table
    forbids and ConflictError if another worker changed the booking first.
    """
    return _move(booking, to, actor=actor, reason=reason, **fields)


# ---- resolving a slice into a request -----------------------------------------------------------


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


def _parse_bid(bid: Any, currency: str) -> int:
    try:
        amount = to_minor(bid if isinstance(bid, (str, int, Decimal)) else str(bid), currency)
    except MoneyError as exc:
        raise ValidationFailed({"bid": [str(exc).capitalize() + "."]})
    if amount <= 0:
        raise ValidationFailed({"bid": ["A bid must be greater than zero."]})
    return amount


# ---- quotes (dynamic prices) --------------------------------------------------------------------


def _quote_fields(req: _Request, now: datetime) -> dict[str, Any]:
    peak = offering_peak(req.offering.pk, req.starts_at, req.ends_at)
    util = utilisation(peak, req.offering.capacity())
    unit = dynamic_unit_price(req.policy, util)
    return {
        "offering": req.offering,
        "profile": req.profile,
        "starts_at": req.starts_at,
        "ends_at": req.ends_at,
        "unit_price": unit,
        "units": req.units,
        "total_price": unit * req.units,
        "currency": req.policy.currency,
        "utilisation": util,
        "created_at": now,
        "expires_at": now + settings.MARKETPLACE_QUOTE_TTL,
    }


@transaction.atomic
def quote_create(*, actor: User, slice_id: str | SliceKey, duration: int | None = None) -> Quote:
    """A dynamic price for this slice, valid for MARKETPLACE_QUOTE_TTL; recorded in the price history."""
    now = clock.now()
    req = _resolve(actor=actor, slice_id=slice_id, duration=duration, image=None, now=now)
    if req.policy.model != PricingPolicy.Model.DYNAMIC:
        raise DomainError("Quotes are for dynamically priced slices; this one has a fixed price or an auction.")
    quote = Quote.objects.create(renter=actor, **_quote_fields(req, now))
    PriceHistory.objects.create(
        offering=req.offering,
        profile=req.profile,
        at=now,
        unit_price=quote.unit_price,
        currency=quote.currency,
        utilisation=quote.utilisation,
        source=PriceHistory.Source.DYNAMIC,
    )
    record_event(
        actor=actor,
        verb="quote.issued",
        target=quote,
        data={
            "unit_price": quote.unit_price,
            "currency": quote.currency,
            "utilisation": round(quote.utilisation, 4),
            "expires_at": quote.expires_at.isoformat(),
        },
    )
    return quote


def _quote_payload(quote: Quote) -> dict[str, Any]:
    return {
        "id": str(quote.pk),
        "unit_price": str(format_minor(quote.unit_price, quote.currency).split()[0]),
        "total_price": str(format_minor(quote.total_price, quote.currency).split()[0]),
        "currency": quote.currency,
        "expires_at": quote.expires_at.isoformat().replace("+00:00", "Z"),
    }


# ---- requests: fixed and dynamic ----------------------------------------------------------------


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


def booking_request(
    *,
    actor: User,
    slice_id: str | SliceKey,
    duration: int | None = None,
    bid: Any = None,
    quote_id: Any = None,
    image: str | None = None,
) -> Booking:
    """Request a slice. Fixed and dynamic: recorded, then confirmed at once if capacity allows (else
    rejected with its reason and SliceTaken raised). Auction: a sealed bid (or a raise of one's bid)
    that waits for clearing.
    """
    now = clock.now()
    # A plain purchase is first checked against the entry this process keeps (no catalogue read); the
    # booking function then checks that entry's version. If the catalogue has changed since, or if a
    # kept entry refuses the request, it is checked again against a fresh read (its version checked
    # too), and should the catalogue change again in between, a last time unchecked: a busy owner
    # cannot make a renter's request fail. Bids and quotes (whose checks write) always read afresh.
    plain = not quote_id and (bid is None or bid == "")
    for attempt in (0, 1, 2):
        cached = plain and attempt == 0
        req: _Request | None = None
        try:
            req = _resolve(actor=actor, slice_id=slice_id, duration=duration, image=image, now=now, cached=cached)
            if attempt == 2:
                req.version = None
            return _request(actor=actor, req=req, bid=bid, quote_id=quote_id, now=now)
        except _CatalogueStale:
            _ENTRIES.pop(connection.settings_dict["NAME"], None)
        except DomainError:
            if not cached or (req is not None and req.sent):
                raise
            # Refused by a kept entry before the database saw it (nothing written): ask a fresh one.
    raise AssertionError("unreachable: the last attempt is not checked")


def _request(*, actor: User, req: _Request, bid: Any, quote_id: Any, now: datetime) -> Booking:
    model = req.policy.model
    if model == PricingPolicy.Model.AUCTION:
        if quote_id:
            raise ValidationFailed({"quote": ["Auction slices take a bid, not a quote."]})
        if bid is None or bid == "":
            raise ValidationFailed({"bid": ["This slice is sold by auction: send a bid (per grid unit)."]})
        return _bid_place(actor=actor, req=req, amount=_parse_bid(bid, req.policy.currency), now=now)
    if bid is not None and bid != "":
        raise ValidationFailed({"bid": ["This slice has a fixed or dynamic price: do not send a bid."]})
    quote = None
    if quote_id:
        if model != PricingPolicy.Model.DYNAMIC:
            raise ValidationFailed({"quote": ["Quotes are only for dynamically priced slices."]})
        quote = _quote_for(actor=actor, req=req, quote_id=quote_id, now=now)
    return _buy(actor=actor, req=req, quote=quote, now=now)


def _quote_for(*, actor: User, req: _Request, quote_id: Any, now: datetime) -> Quote:
    try:
        quote_uuid = uuid.UUID(str(quote_id))
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed({"quote": ["Unknown quote."]})
    quote = Quote.objects.filter(pk=quote_uuid, renter=actor).first()
    if quote is None:
        raise ValidationFailed({"quote": ["Unknown quote."]})
    if (quote.offering_id, quote.profile_id, quote.starts_at, quote.ends_at) != (
        req.offering.pk,
        req.profile.pk,
        req.starts_at,
        req.ends_at,
    ):
        raise ValidationFailed({"quote": ["This quote is for another slice or duration."]})
    if quote.used_at is not None:
        raise ConflictError("This quote has already been used.")
    if quote.expires_at <= now:
        fresh = quote_create(actor=actor, slice_id=req.key, duration=req.units * req.offering.grid_seconds)
        raise QuoteExpired(
            f"The quote expired at {quote.expires_at:%H:%M:%S} UTC. A fresh quote is offered: "
            f"{_money(fresh.unit_price, fresh.currency)} per grid unit until {fresh.expires_at:%H:%M:%S} UTC.",
            extra={"quote": _quote_payload(fresh)},
        )
    return quote


TAKEN_REASON = "Taken: the offering has no capacity left for this profile over that period."


def _record_request(
    *, actor: User, req: _Request, quote: Quote | None, now: datetime, unit: int | None
) -> tuple[Booking, str, list[int], dict[str, int]]:
    """Lock the offering, run the SQL peak check and record the booking with its audit event(s), in one
    call to scheduling_booking_request (migration 0004). With ``unit`` (a fixed price and no funds
    check to ask) PostgreSQL also decides: confirmed (audit, price history) or rejected (audit).
    Returns the booking (as written), the offering's status, the peak before this booking and the
    offering's capacity as read under the lock."""
    policy, offering, profile = req.policy, req.offering, req.profile
    ctx = audit_context.current()
    user = actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
    audit = {
        "actor_id": user.pk if user else None,
        "actor_label": str(getattr(user, "email", "")) if user else "",
        "target_type_id": ContentType.objects.get_for_model(Booking).pk,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "source": ctx.source,
    }
    requested = {
        "offering": offering.pk,
        "profile": profile.pk,
        "start": req.starts_at.isoformat(),
        "end": req.ends_at.isoformat(),
        "model": policy.model,
    }
    req.sent = True  # 'stale' is answered by its own exception, before anything is written
    with connection.cursor() as cur:
        cur.execute(
            "SELECT * FROM scheduling_booking_request(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)",
            [
                actor.pk,
                offering.pk,
                profile.pk,
                policy.model,
                req.starts_at,
                req.ends_at,
                profile.vcpus,
                profile.ram_mib,
                profile.disk_gb,
                profile.bandwidth_mbps,
                req.image,
                offering.grid_seconds,
                policy.currency,
                quote.pk if quote is not None else None,
                now,
                unit,
                req.units,
                TAKEN_REASON,
                json.dumps(audit),
                json.dumps(requested),
                req.version,
            ],
        )
        booking_id, status, state, *numbers = cur.fetchone()
    if status == "stale":
        raise _CatalogueStale
    if booking_id is None:
        return Booking(), status, [], {}
    decided = state != S.REQUESTED
    booking = Booking(
        pk=booking_id,
        **_request_fields(actor, offering, profile, req),
        pricing_model=policy.model,
        state=state,
        currency=policy.currency,
        quote=quote,
        unit_price=unit if state == S.CONFIRMED else None,
        total_price=unit * req.units if state == S.CONFIRMED and unit is not None else None,
        reason=TAKEN_REASON if decided and state == S.REJECTED else "",
        created_at=now,
        updated_at=now,
        confirmed_at=now if state == S.CONFIRMED else None,
    )
    booking._state.adding = False
    peak, capacity = [int(v) for v in numbers[:4]], dict(zip(RESOURCES, map(int, numbers[4:]), strict=True))
    return booking, status, peak, capacity


def _buy(*, actor: User, req: _Request, quote: Quote | None, now: datetime) -> Booking:
    refusal: DomainError | None = None
    policy, offering, profile = req.policy, req.offering, req.profile
    # Fast path: a fixed price and nobody to ask about funds -> PostgreSQL decides in the same call
    # (one round trip, run as its own transaction unless the caller holds one; the deferred
    # capacity trigger runs at its commit either way).
    decide = quote is None and policy.model == PricingPolicy.Model.FIXED and not hooks.receivers("funds_check")
    try:
        if decide:
            booking, status, _, _ = _record_request(
                actor=actor, req=req, quote=None, now=now, unit=int(policy.price_per_unit or 0)
            )
            if status != Offering.Status.PUBLISHED:
                raise OfferingNotSelling(f"The offering {offering.name} is {status}: it sells nothing new.")
            if booking.state == S.CONFIRMED:
                hooks.fire_on_commit("on_booking_confirmed", booking.pk)
            return _refused(booking, None)
        with transaction.atomic():
            booking, status, peak, capacity = _record_request(actor=actor, req=req, quote=quote, now=now, unit=None)
            if status != Offering.Status.PUBLISHED:
                raise OfferingNotSelling(f"The offering {offering.name} is {status}: it sells nothing new.")
            util = None
            if quote is not None:
                unit = quote.unit_price
            elif policy.model == PricingPolicy.Model.DYNAMIC:
                util = utilisation(peak, capacity)
                unit = dynamic_unit_price(policy, util)
            else:
                unit = int(policy.price_per_unit or 0)
            total = unit * req.units
            reason = ""
            if not _fits(peak, _need(profile), capacity):
                reason = TAKEN_REASON
            else:
                try:
                    hooks.funds_check(actor, offering, profile, total, policy.currency)
                except DomainError as exc:
                    refusal, reason = exc, exc.message
            if reason:
                _move(booking, S.REJECTED, actor=actor, reason=reason, now=now)
            else:
                if quote is not None and not Quote.objects.filter(pk=quote.pk, used_at__isnull=True).update(
                    used_at=now
                ):
                    raise ConflictError("This quote has already been used.")
                _move(
                    booking,
                    S.CONFIRMED,
                    actor=actor,
                    now=now,
                    unit_price=unit,
                    total_price=total,
                    data={"unit_price": unit, "total_price": total, "currency": policy.currency},
                )
                if quote is None:
                    PriceHistory.objects.create(
                        offering=offering,
                        profile=profile,
                        at=now,
                        unit_price=unit,
                        currency=policy.currency,
                        utilisation=util,
                        source=policy.model,
                    )
    except IntegrityError as exc:
        if not is_capacity_violation(exc):
            raise
        # The database refused the claim (the backstop): keep the request visible as rejected.
        with transaction.atomic():
            booking = Booking.objects.create(
                **_request_fields(actor, offering, profile, req),
                pricing_model=policy.model,
                state=S.REJECTED,
                currency=policy.currency,
                reason="Taken: the database refused the claim (capacity).",
                created_at=now,
                updated_at=now,
            )
            record_event(
                actor=actor,
                verb="booking.rejected",
                target=booking,
                data={"from": "requested", "to": "rejected", "reason": booking.reason},
            )
        raise SliceTaken(
            "This slice was just taken: the offering has no capacity left for it.", extra={"booking": booking.pk}
        )
    return _refused(booking, refusal)


def _refused(booking: Booking, refusal: DomainError | None) -> Booking:
    """The booking if confirmed; else the refusal (funds) or SliceTaken, naming the rejected booking."""
    if booking.state == S.REJECTED:
        if refusal is not None:
            refusal.extra = {**refusal.extra, "booking": booking.pk}
            raise refusal
        raise SliceTaken(
            "This slice was just taken: the offering has no capacity left for it.", extra={"booking": booking.pk}
        )
    return booking


# ---- auctions: bids -----------------------------------------------------------------------------


def _bid_place(*, actor: User, req: _Request, amount: int, now: datetime) -> Booking:
    """Place a sealed bid on the slice's round (created on the first bid), or raise one's own bid."""
    policy, offering, profile = req.policy, req.offering, req.profile
    if req.ends_at != req.key.ends_at:
        raise ValidationFailed({"duration": [f"Bids are for the whole slice: {req.key.length} seconds."]})
    reserve = int(policy.reserve_price or 0)
    if amount < reserve:
        raise ValidationFailed({"bid": [f"The bid is below the reserve price of {_money(reserve, policy.currency)}."]})
    closes_at = req.starts_at - timedelta(seconds=int(policy.bidding_closes_seconds or 0))
    if closes_at <= now:
        raise BiddingClosed(f"Bidding on this slice closed at {closes_at:%Y-%m-%d %H:%M:%S} UTC.")
    with transaction.atomic():
        rnd, _ = AuctionRound.objects.get_or_create(
            offering=offering,
            profile=profile,
            starts_at=req.starts_at,
            ends_at=req.ends_at,
            defaults={
                "closes_at": closes_at,
                "currency": policy.currency,
                "reserve_price": reserve,
                "clearing_rule": policy.clearing_rule,
                "created_at": now,
            },
        )
        rnd = AuctionRound.objects.select_for_update().get(pk=rnd.pk)
        if rnd.state != AuctionRound.State.OPEN or rnd.closes_at <= now:
            raise BiddingClosed(f"Bidding on this slice closed at {rnd.closes_at:%Y-%m-%d %H:%M:%S} UTC.")
        if amount < rnd.reserve_price:
            raise ValidationFailed(
                {"bid": [f"The bid is below the reserve price of {_money(rnd.reserve_price, rnd.currency)}."]}
            )
        mine = Booking.objects.select_for_update().filter(auction_round=rnd, renter=actor, state=S.REQUESTED).first()
        hooks.funds_check(actor, offering, profile, amount * req.units, rnd.currency)
        seq = _next_bid_sequence()
        if mine is not None:
            if amount <= (mine.bid_amount or 0):
                raise ValidationFailed(
                    {
                        "bid": [
                            f"A raise must be higher than your current bid of {_money(mine.bid_amount, rnd.currency)}."
                        ]
                    }
                )
            before = mine.bid_amount
            Booking.objects.filter(pk=mine.pk, state=S.REQUESTED).update(
                bid_amount=amount, bid_sequence=seq, updated_at=now
            )
            mine.bid_amount, mine.bid_sequence, mine.updated_at = amount, seq, now
            record_event(
                actor=actor, verb="bid.raised", target=mine, data={"from": before, "to": amount, "round": rnd.pk}
            )
            return mine
        booking = Booking.objects.create(
            **_request_fields(actor, offering, profile, req),
            pricing_model=PricingModel.AUCTION,
            state=S.REQUESTED,
            currency=rnd.currency,
            auction_round=rnd,
            bid_amount=amount,
            bid_sequence=seq,
            created_at=now,
            updated_at=now,
        )
        AuctionRound.objects.filter(pk=rnd.pk).update(bids_count=rnd.bids_count + 1)
        record_event(
            actor=actor,
            verb="bid.placed",
            target=booking,
            data={"round": rnd.pk, "bid": amount, "currency": rnd.currency},
        )
    return booking


# ---- release ------------------------------------------------------------------------------------


def booking_release(*, actor: User, booking_id: int) -> Booking:
    """The renter ends a booking early (capacity reopens) or withdraws a bid before bidding closes.

    Only the renter may: the offering's owner and admins preempt instead (403); anyone else gets 404.
    """
    now = clock.now()
    booking = Booking.objects.select_related("offering").filter(pk=booking_id).first()
    if booking is None or booking.renter_id != getattr(actor, "pk", None):
        if (
            booking is not None
            and getattr(actor, "is_authenticated", False)
            and (actor.is_staff or actor.has_perm("owners.change_offering", booking.offering))
        ):
            raise PermissionDeniedError("Only the renter can release a booking; owners and admins preempt it.")
        raise NotFoundError("No such booking.")
    with transaction.atomic():
        if booking.auction_round_id and booking.state == S.REQUESTED:
            rnd = AuctionRound.objects.select_for_update().get(pk=booking.auction_round_id)
            booking = Booking.objects.select_for_update().get(pk=booking.pk)
            if booking.state != S.REQUESTED:
                raise InvalidTransition(f"This bid is already {booking.state}.")
            if rnd.state != AuctionRound.State.OPEN or rnd.closes_at <= now:
                raise BiddingClosed("Bidding has closed: the bid can no longer be withdrawn.")
            _move(
                booking, S.RELEASED, actor=actor, reason="Bid withdrawn by the renter.", now=now, verb="bid.withdrawn"
            )
            AuctionRound.objects.filter(pk=rnd.pk).update(bids_count=max(rnd.bids_count - 1, 0))
            return booking
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        if booking.state not in CLAIMING_STATES:
            raise InvalidTransition(f"A booking that is {booking.state} cannot be released.")
        return _move(booking, S.RELEASED, actor=actor, reason="Released early by the renter.", now=now)


# ---- changing a booking's profile ---------------------------------------------------------------

CHANGEABLE_STATES = (S.CONFIRMED, S.PROVISIONING, S.RUNNING)
PROFILE_CHANGED = "booking.profile_changed"
PROFILE_CHANGE_UNDONE = "booking.profile_change_undone"


@dataclass(frozen=True)
class PricePeriod:
    """Part of a booking's period at one unit price; ``amount`` is what the whole part costs (minor units)."""

    starts_at: datetime
    ends_at: datetime
    unit_price: int
    amount: int

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.starts_at.isoformat(),
            "to": self.ends_at.isoformat(),
            "unit_price": self.unit_price,
            "amount": self.amount,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PricePeriod:
        return cls(
            datetime.fromisoformat(data["from"]),
            datetime.fromisoformat(data["to"]),
            int(data["unit_price"]),
            int(data["amount"]),
        )


def _latest_price_event(booking_id: int) -> DomainEvent | None:
    return (
        DomainEvent.objects.filter(
            target_type=ContentType.objects.get_for_model(Booking),
            target_id=str(booking_id),
            verb__in=(PROFILE_CHANGED, PROFILE_CHANGE_UNDONE),
        )
        .order_by("-id")
        .first()
    )


def price_schedule(booking: Booking) -> list[PricePeriod]:
    """What each part of a booking costs. One period at its price, unless its profile was changed: then
    each part keeps the price it was used at, and the amounts sum to ``total_price``. Billing charges
    from this (Booking.price_schedule, written with the change; the audit event records it too)."""
    if booking.price_schedule:
        return [PricePeriod.from_json(p) for p in booking.price_schedule]
    return [
        PricePeriod(booking.starts_at, booking.ends_at, int(booking.unit_price or 0), int(booking.total_price or 0))
    ]


def _reprice(schedule: list[PricePeriod], at: datetime, ends_at: datetime, unit: int, grid: int) -> list[PricePeriod]:
    """The schedule with [at, end) at ``unit`` per grid unit; what came before keeps its price (the
    period ``at`` falls in is cut, its amount prorated per second as billing would)."""
    out: list[PricePeriod] = []
    for p in schedule:
        if p.ends_at <= at:
            out.append(p)
        elif p.starts_at < at:
            length = int((p.ends_at - p.starts_at).total_seconds())
            used = int((at - p.starts_at).total_seconds())
            out.append(PricePeriod(p.starts_at, at, p.unit_price, prorate(p.amount, used, length)))
    rest = int((ends_at - at).total_seconds())
    out.append(PricePeriod(at, ends_at, unit, prorate(unit, rest, grid)))
    return out


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
    if booking is None or (booking.renter_id != getattr(actor, "pk", None) and not (authenticated and actor.is_staff)):
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


def _change_profile(*, actor: Any, booking_id: int, policy: PricingPolicy, now: datetime) -> Booking:
    profile = policy.profile
    # Lock order as everywhere: booking, then offering.
    locked = Booking.objects.select_for_update().select_related("profile").get(pk=booking_id)
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
    capacity = offering.capacity()
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
    record_event(
        actor=actor,
        verb=PROFILE_CHANGED,
        target=locked,
        data={
            "from": old,
            "to": {**_claim(locked), "unit_price": unit, "total_price": new_total},
            "at": at.isoformat(),
            "extra": extra,
            "currency": locked.currency,
            "utilisation": round(util, 4) if util is not None else None,
            "price_schedule_before": [p.as_json() for p in before],
            "price_schedule": [p.as_json() for p in after],
        },
    )
    PriceHistory.objects.create(
        offering=offering,
        profile=profile,
        at=now,
        unit_price=unit,
        currency=locked.currency,
        utilisation=util,
        source=policy.model,
    )
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
        event = _latest_price_event(locked.pk)
        if event is None or event.verb != PROFILE_CHANGED or event.data["to"]["profile"] != locked.profile_id:
            return None
        old = event.data["from"]
        offering = Offering.objects.select_for_update(no_key=True).get(pk=locked.offering_id)
        need = [int(old[r]) for r in RESOURCES]
        if not _fits(_others_peak(offering.pk, locked, locked.starts_at, locked.ends_at), need, offering.capacity()):
            log.warning("booking %s: profile change not undone, its old claim no longer fits", locked.pk)
            return None
        fields = {
            "profile_id": int(old["profile"]),
            **{r: int(old[r]) for r in RESOURCES},
            "unit_price": old["unit_price"],
            "total_price": old["total_price"],
            "price_schedule": event.data["price_schedule_before"]
            if len(event.data["price_schedule_before"]) > 1
            else None,
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
                "from": event.data["to"],
                "to": old,
                "undoes": event.pk,
                "reason": reason,
                "currency": locked.currency,
                "price_schedule": event.data["price_schedule_before"],
            },
        )
        hooks.fire_on_commit("on_booking_changed", locked.pk)
    return locked


# ---- preemption ---------------------------------------------------------------------------------


def _can_preempt(actor: Any, offering: Offering) -> bool:
    return bool(
        getattr(actor, "is_authenticated", False)
        and (actor.is_staff or actor.has_perm("owners.change_offering", offering))
    )


def _notice_seconds(offering: Offering, notice_seconds: int | None) -> int:
    if notice_seconds is None:
        notice_seconds = offering.preemption_notice_seconds
    if notice_seconds is None:
        notice_seconds = settings.MARKETPLACE_PREEMPTION_NOTICE_SECONDS
    if isinstance(notice_seconds, bool) or not isinstance(notice_seconds, int) or notice_seconds < 0:
        raise ValidationFailed({"notice_seconds": ["The notice must be zero or more seconds."]})
    return notice_seconds


def _notify(user_id: int, booking: Booking | None, kind: str, message: str, now: datetime) -> None:
    Notification.objects.create(user_id=user_id, booking=booking, kind=kind, message=message[:500], created_at=now)


def _give_notice(*, actor: Any, booking: Booking, notice: int, reason: str, now: datetime) -> Booking:
    deadline = now + timedelta(seconds=notice)
    _move(
        booking,
        S.NOTICE,
        actor=actor,
        now=now,
        reason=reason,
        preempt_deadline=deadline,
        data={"deadline": deadline.isoformat(), "notice_seconds": notice},
        verb="booking.notice",
    )
    _notify(
        booking.renter_id,
        booking,
        Notification.Kind.PREEMPTION_NOTICE,
        f"Booking {booking.pk} on {booking.offering.name} will be preempted at "
        f"{deadline:%Y-%m-%d %H:%M:%S} UTC ({notice} s notice). {reason}".strip(),
        now,
    )
    if deadline <= now:
        _end_preempted(booking, actor=actor, now=now)
    return booking


def _end_preempted(booking: Booking, *, actor: Any, now: datetime) -> None:
    _move(booking, S.PREEMPTED, actor=actor, now=now, reason=booking.reason or "Preempted by the owner.")
    _notify(
        booking.renter_id,
        booking,
        Notification.Kind.PREEMPTED,
        f"Booking {booking.pk} on {booking.offering.name} was preempted; its capacity was taken back.",
        now,
    )


def booking_preempt(*, actor: Any, booking: Booking, notice_seconds: int | None = None, reason: str = "") -> Booking:
    """Give a booking notice: it ends as preempted at the deadline (now + notice) and the renter is told.

    Only the offering's owner (owners.change_offering) or staff may.
    """
    now = clock.now()
    if not _can_preempt(actor, booking.offering):
        raise PermissionDeniedError("Only the offering's owner or an admin can preempt its bookings.")
    notice = _notice_seconds(booking.offering, notice_seconds)
    reason = reason.strip() or "Maintenance by the owner."
    with transaction.atomic():
        locked = Booking.objects.select_for_update().select_related("offering").get(pk=booking.pk)
        if locked.state == S.NOTICE:
            raise ConflictError("This booking is already under a preemption notice.")
        if locked.state not in CLAIMING_STATES:
            raise InvalidTransition(f"A booking that is {locked.state} cannot be preempted.")
        return _give_notice(actor=actor, booking=locked, notice=notice, reason=reason, now=now)


def offering_preempt_all(*, actor: Any, offering: Offering, notice_seconds: int | None = None, reason: str = "") -> int:
    """Give notice to every live booking of an offering (maintenance); returns how many."""
    now = clock.now()
    if not _can_preempt(actor, offering):
        raise PermissionDeniedError("Only the offering's owner or an admin can preempt its bookings.")
    notice = _notice_seconds(offering, notice_seconds)
    reason = reason.strip() or "Maintenance of the whole offering."
    count = 0
    with transaction.atomic():
        live = (
            Booking.objects.select_for_update()
            .select_related("offering")
            .filter(offering=offering, state__in=[S.CONFIRMED, S.PROVISIONING, S.RUNNING], ends_at__gt=now)
            .order_by("id")
        )
        for booking in live:
            _give_notice(actor=actor, booking=booking, notice=notice, reason=reason, now=now)
            count += 1
        record_event(
            actor=actor,
            verb="offering.preempted",
            target=offering,
            data={"bookings": count, "notice_seconds": notice, "reason": reason},
        )
    return count


def preemptions_end_due(*, batch: int = 500) -> int:
    """Notice -> preempted for every booking whose deadline has passed (beat task). Idempotent."""
    now = clock.now()
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                Booking.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("offering")
                .filter(state=S.NOTICE, preempt_deadline__lte=now)
                .order_by("preempt_deadline", "id")[:batch]
            )
            for booking in due:
                _end_preempted(booking, actor=None, now=now)
        done += len(due)
        if len(due) < batch:
            return done


# ---- auctions: clearing -------------------------------------------------------------------------


@dataclass
class ClearingResult:
    rounds: int = 0
    bids: int = 0
    winners: int = 0


CLEARING_BATCH_OFFERINGS = 100


def auctions_clear_due(
    *, now: datetime | None = None, batch: int = CLEARING_BATCH_OFFERINGS, worker: tuple[int, int] = (0, 1)
) -> ClearingResult:
    """Clear every open round whose bidding has closed. Safe to run twice or from two workers at once:
    rounds are taken with SKIP LOCKED and only open rounds and requested bids are changed.

    Offerings are cleared ``batch`` at a time, one transaction per batch (set-based writes).
    ``worker=(i, n)`` only rotates where worker i of n starts, so parallel workers begin on
    different batches instead of skipping each other's locked ones; each still covers everything."""
    now = now or clock.now()
    result = ClearingResult()
    offering_ids = list(
        AuctionRound.objects.filter(state=AuctionRound.State.OPEN, closes_at__lte=now)
        .values_list("offering_id", flat=True)
        .distinct()
        .order_by("offering_id")
    )
    index, count = worker
    if count > 1 and offering_ids:
        shift = (len(offering_ids) * index // count) // batch * batch
        offering_ids = offering_ids[shift:] + offering_ids[:shift]
    for i in range(0, len(offering_ids), batch):
        ids = offering_ids[i : i + batch]
        try:
            part = _clear_offerings_retrying(ids, now)
        except IntegrityError as exc:
            if not is_capacity_violation(exc) or len(ids) == 1:
                if is_capacity_violation(exc):  # nothing of this offering changed; it is retried next run
                    log.error("clearing of offering %s refused by the capacity trigger: %s", ids[0], exc)
                    continue
                raise
            part = ClearingResult()  # isolate the offending offering: clear this batch one by one
            for one in ids:
                try:
                    sub = _clear_offerings_retrying([one], now)
                except IntegrityError as inner:
                    if not is_capacity_violation(inner):
                        raise
                    log.error("clearing of offering %s refused by the capacity trigger: %s", one, inner)
                    continue
                part.rounds += sub.rounds
                part.bids += sub.bids
                part.winners += sub.winners
        result.rounds += part.rounds
        result.bids += part.bids
        result.winners += part.winners
    return result


DEADLOCK_RETRIES = 3


def _clear_offerings_retrying(offering_ids: list[int], now: datetime) -> ClearingResult:
    """_clear_offerings, again if PostgreSQL broke a deadlock by aborting it. Funds checks lock what
    they read (billing locks each renter's balance) in rank order, so two workers clearing at once may
    meet the same renters in opposite orders; the aborted batch changed nothing and is simply redone."""
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            return _clear_offerings(offering_ids, now)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == DEADLOCK_RETRIES:
                raise
            log.warning("clearing of offerings %s hit a deadlock; retrying", offering_ids[:5])
    raise AssertionError("unreachable")


_BIDS_SQL = """
SELECT b.id, b.renter_id, b.auction_round_id, b.bid_amount, b.bid_sequence, coalesce(rs.priority_tier, 0),
       b.vcpus, b.ram_mib, b.disk_gb, b.bandwidth_mbps, b.offering_id
FROM scheduling_booking b LEFT JOIN renters_rentersettings rs ON rs.user_id = b.renter_id
WHERE b.auction_round_id = ANY(%s) AND b.state = 'requested'
"""
_OUTBID_SQL = """
WITH lost AS (
    UPDATE scheduling_booking SET state = 'outbid', updated_at = %s,
           reason = 'Outbid: other bids took the capacity of this slice.'
    WHERE id = ANY(%s) AND state = 'requested'
    RETURNING id, renter_id, offering_id, bid_amount, currency, starts_at
)
INSERT INTO scheduling_notification (user_id, booking_id, kind, message, created_at)
SELECT lost.renter_id, lost.id, 'outbid',
       format('Your bid of %%s %%s on %%s (%%s UTC) was outbid.',
              CASE WHEN lost.currency = 'JPY' THEN lost.bid_amount::text
                   ELSE to_char(lost.bid_amount / 100.0, 'FM999999999999990.00') END,
              lost.currency, o.name, to_char(lost.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')),
       %s
FROM lost JOIN owners_offering o ON o.id = lost.offering_id
"""
_CLAIMS_SQL = """
SELECT offering_id, starts_at, ends_at, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_booking
WHERE offering_id = ANY(%s) AND state IN ('confirmed', 'provisioning', 'running', 'notice')
  AND tstzrange(starts_at, ends_at) && tstzrange(%s, %s)
"""


def _allocate(
    group: list[tuple], offering: Offering, claims: Any, by_round: dict[int, AuctionRound], skip: Any
) -> tuple[list[tuple], list[tuple]]:
    """One greedy pass over an offering's bids in rank order: (winners, losers); bids in ``skip`` take part not."""
    timeline = Timeline.build(offering.capacity(), claims)
    won: list[tuple] = []
    lost: list[tuple] = []
    for b in group:
        if b[0] in skip:
            continue
        need = (b[6], b[7], b[8], b[9])
        r = by_round[b[2]]  # a bid's period is its round's
        if timeline.fits(r.starts_at, r.ends_at, need):
            timeline.claim(r.starts_at, r.ends_at, need)
            won.append(b)
        else:
            lost.append(b)
    return won, lost


def _uniform_price(r: AuctionRound, lost: list[tuple]) -> int:
    """The uniform price of a round: its highest losing bid, at least the reserve."""
    return max(max((b[3] for b in lost), default=r.reserve_price), r.reserve_price)


def _units(r: AuctionRound, offering: Offering) -> int:
    return int((r.ends_at - r.starts_at).total_seconds()) // offering.grid_seconds


class _ClearingFunds:
    """Clearing with a funds check: every would-be winner is asked, in rank order, with what it would pay.

    The rule, the same for both clearing rules and deterministic (rank order, offerings by id): a
    winner whose funds check refuses is out of the round as if its bid had never been placed: it
    takes no capacity and sets no price. After a refusal the offering is allocated again without it,
    so the next bid in rank order takes the capacity, and the uniform price (the highest bid still
    losing, at least the reserve) is computed again from that allocation; the winners are then asked
    at that price. A winner already approved is asked again only if what it would pay grew (bids of
    another shape can move the price up; funds checks are monotone, so a lower amount needs no new
    answer). The amount asked is the win plus the renter's other wins approved in this clearing
    (they are not in the database yet), so one balance never pays for two wins. At most one pass
    per refusal, plus one, per offering.
    """

    def __init__(self, by_round: dict[int, AuctionRound], offerings: dict[int, Offering]) -> None:
        self.by_round = by_round
        self.offerings = offerings
        self.refused: dict[int, tuple[tuple, str]] = {}  # bid id -> (bid row, the check's reason)
        self.committed: dict[int, int] = defaultdict(int)  # renter -> wins approved on earlier offerings
        self.renters: dict[int, User] = {}
        self.profiles: dict[int, SliceProfile] = {}

    def _load(self, group: list[tuple]) -> None:
        renter_ids = {b[1] for b in group} - set(self.renters)
        profile_ids = {self.by_round[b[2]].profile_id for b in group} - set(self.profiles)
        self.renters.update(User.objects.in_bulk(renter_ids))
        self.profiles.update(SliceProfile.objects.in_bulk(profile_ids))

    def allocate(self, group: list[tuple], offering: Offering, claims: Any) -> tuple[list[tuple], list[tuple]]:
        self._load(group)
        approved: dict[int, int] = {}  # bid id -> the amount its check passed at
        while True:
            won, lost = _allocate(group, offering, claims, self.by_round, self.refused)
            lost_of: dict[int, list[tuple]] = defaultdict(list)
            for b in lost:
                lost_of[b[2]].append(b)
            in_offering: dict[int, int] = defaultdict(int)
            for b in won:
                r = self.by_round[b[2]]
                unit = min(_uniform_price(r, lost_of[r.pk]), b[3]) if r.clearing_rule == "uniform" else b[3]
                amount = unit * _units(r, offering)
                asked = self.committed[b[1]] + in_offering[b[1]] + amount
                if asked > approved.get(b[0], -1):
                    try:
                        hooks.funds_check(self.renters[b[1]], offering, self.profiles[r.profile_id], asked, r.currency)
                    except DomainError as exc:
                        self.refused[b[0]] = (b, exc.message)
                        break
                    approved[b[0]] = asked
                in_offering[b[1]] += amount
            else:
                for renter_id, amount in in_offering.items():
                    self.committed[renter_id] += amount
                return won, lost


def _refusal_reason(reason: str) -> str:
    return f"Refused at clearing: {reason} The capacity went to the next bid."[:300]


def _refusal_message(b: tuple, r: AuctionRound, offering: Offering, reason: str) -> str:
    return (
        f"Your bid of {_money(b[3], r.currency)} on {offering.name} ({r.starts_at:%Y-%m-%d %H:%M} UTC) won capacity "
        f"but could not be confirmed: {reason} The capacity went to the next bid."
    )


def _refusal_events(
    refused: dict[int, tuple[tuple, str]], by_round: dict[int, AuctionRound], now: datetime, ctx: Any
) -> list[DomainEvent]:
    """One audit record per refused win (requested -> rejected), as _move would write it."""
    booking_type = ContentType.objects.get_for_model(Booking)
    return [
        DomainEvent(
            created_at=now,
            verb="booking.rejected",
            target_type=booking_type,
            target_id=str(bid_id),
            target_repr=f"booking {bid_id} (rejected)",
            request_id=ctx.request_id,
            ip=ctx.ip,
            source=ctx.source if ctx.source != "system" else "task",
            data={
                "from": "requested",
                "to": "rejected",
                "reason": _refusal_reason(reason),
                "round": b[2],
                "bid": b[3],
                "currency": by_round[b[2]].currency,
            },
        )
        for bid_id, (b, reason) in refused.items()
    ]


def _clear_offerings(offering_ids: list[int], now: datetime) -> ClearingResult:
    """Serve the due rounds' bids of these offerings: per offering, by price per resource-second,
    then renter priority, then arrival, while capacity allows. Pay-as-bid or uniform price per round.
    With a funds check registered every would-be winner is asked first (rules: _ClearingFunds); a
    refused one ends rejected with the check's reason, is told, and its capacity goes to the next bid."""
    result = ClearingResult()
    with transaction.atomic():
        rounds = list(
            AuctionRound.objects.select_for_update(skip_locked=True)
            .filter(offering_id__in=offering_ids, state=AuctionRound.State.OPEN, closes_at__lte=now)
            .order_by("offering_id", "id")
        )
        if not rounds:
            return result
        oids = sorted({r.offering_id for r in rounds})
        offerings = {
            o.pk: o for o in Offering.objects.select_for_update(no_key=True).filter(pk__in=oids).order_by("pk")
        }
        by_round = {r.pk: r for r in rounds}
        with connection.cursor() as cur:
            cur.execute(_BIDS_SQL, [list(by_round)])
            bids = cur.fetchall()
            cur.execute(_CLAIMS_SQL, [oids, min(r.starts_at for r in rounds), max(r.ends_at for r in rounds)])
            claim_rows = cur.fetchall()
        claims: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in claim_rows:
            claims[row[0]].append(dict(zip(("starts_at", "ends_at", *RESOURCES), row[1:], strict=True)))
        bids_of: dict[int, list[tuple]] = defaultdict(list)
        for b in bids:
            bids_of[b[10]].append(b)
        # Price per resource-second of a bid = amount × units / (share of the offering × seconds);
        # within a round only the amount varies, so one factor per round.
        factor: dict[int, float] = {}
        first_bid: dict[int, tuple] = {}
        for b in bids:
            first_bid.setdefault(b[2], b)
        for r in rounds:
            o = offerings[r.offering_id]
            seconds = (r.ends_at - r.starts_at).total_seconds()
            sample = first_bid.get(r.pk)
            shape = dict(zip(RESOURCES, sample[6:10], strict=True)) if sample else None
            weight = resource_weight(shape, o.capacity()) if shape else 1.0
            factor[r.pk] = (seconds / o.grid_seconds) / (weight * seconds)
        winners: list[tuple] = []
        losers: dict[int, list[tuple]] = defaultdict(list)
        # Without a funds check (the engine alone, the benchmark) each offering is one greedy pass.
        funds = _ClearingFunds(by_round, offerings) if hooks.receivers("funds_check") else None
        for oid in sorted(bids_of):
            group = bids_of[oid]
            group.sort(key=lambda b: (-b[3] * factor[b[2]], -b[5], b[4], b[0]))
            if funds is None:
                served, unserved = _allocate(group, offerings[oid], claims.get(oid, ()), by_round, {})
            else:
                served, unserved = funds.allocate(group, offerings[oid], claims.get(oid, ()))
            winners.extend(served)
            for b in unserved:
                losers[b[2]].append(b)
        refused = funds.refused if funds is not None else {}
        for r in rounds:
            if r.clearing_rule == "uniform":
                r.clearing_price = _uniform_price(r, losers[r.pk])
        win_ids, win_prices, win_totals = [], [], []
        round_winners: dict[int, list[list[int]]] = defaultdict(list)
        for b in winners:
            r = by_round[b[2]]
            price = min(r.clearing_price, b[3]) if r.clearing_rule == "uniform" else b[3]
            units = int((r.ends_at - r.starts_at).total_seconds()) // offerings[b[10]].grid_seconds
            win_ids.append(b[0])
            win_prices.append(price)
            win_totals.append(price * units)
            round_winners[r.pk].append([b[0], price])
        lose_ids = [b[0] for group in losers.values() for b in group]
        refused_of: dict[int, list[list[Any]]] = defaultdict(list)
        for bid_id, (b, reason) in refused.items():
            refused_of[b[2]].append([bid_id, reason])
        event_ctx = audit_context.current()
        round_type = ContentType.objects.get_for_model(AuctionRound)
        events, history = [], []
        for r in rounds:
            won = round_winners[r.pk]
            if r.clearing_rule != "uniform":
                r.clearing_price = min((p for _, p in won), default=None)
            r.winners_count, r.bids_count = len(won), len(won) + len(losers[r.pk]) + len(refused_of[r.pk])
            for price in sorted({p for _, p in won}):
                history.append(
                    PriceHistory(
                        offering_id=r.offering_id,
                        profile_id=r.profile_id,
                        at=now,
                        unit_price=price,
                        currency=r.currency,
                        source=PriceHistory.Source.AUCTION,
                    )
                )
            # One audit record per round, naming every bid's move (requested -> confirmed / outbid).
            events.append(
                DomainEvent(
                    created_at=now,
                    verb="auction.cleared",
                    target_type=round_type,
                    target_id=str(r.pk),
                    target_repr=str(r)[:255],
                    request_id=event_ctx.request_id,
                    ip=event_ctx.ip,
                    source=event_ctx.source if event_ctx.source != "system" else "task",
                    data={
                        "rule": r.clearing_rule,
                        "clearing_price": r.clearing_price,
                        "reserve": r.reserve_price,
                        "confirmed": won,
                        "outbid": [b[0] for b in losers[r.pk]],
                        # [bid, reason]: winners the funds check refused (their capacity went to the next bid)
                        "rejected": refused_of[r.pk],
                        "transition": {
                            "from": "requested",
                            "to_winners": "confirmed",
                            "to_losers": "outbid",
                            "to_refused": "rejected",
                        },
                    },
                )
            )
        with connection.cursor() as cur:
            if win_ids:
                cur.execute(
                    "UPDATE scheduling_booking AS b SET state = 'confirmed', unit_price = v.price, "
                    "total_price = v.total, confirmed_at = %s, updated_at = %s "
                    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, price, total) "
                    "WHERE b.id = v.id AND b.state = 'requested'",
                    [now, now, win_ids, win_prices, win_totals],
                )
            if lose_ids:
                # Losers become outbid and are told, in one statement.
                cur.execute(_OUTBID_SQL, [now, lose_ids, now])
            if refused:
                cur.execute(
                    "UPDATE scheduling_booking AS b SET state = 'rejected', reason = v.reason, updated_at = %s "
                    "FROM unnest(%s::bigint[], %s::text[]) AS v(id, reason) WHERE b.id = v.id AND b.state = 'requested'",
                    [now, list(refused), [_refusal_reason(reason) for _, reason in refused.values()]],
                )
            cur.execute(
                "UPDATE scheduling_auctionround AS r SET state = 'cleared', cleared_at = %s, "
                "clearing_price = v.price, winners_count = v.winners, bids_count = v.bids "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::int[]) AS v(id, price, winners, bids) "
                "WHERE r.id = v.id AND r.state = 'open'",
                [
                    now,
                    [r.pk for r in rounds],
                    [r.clearing_price for r in rounds],
                    [r.winners_count for r in rounds],
                    [r.bids_count for r in rounds],
                ],
            )
        for r in rounds:
            r.state, r.cleared_at = AuctionRound.State.CLEARED, now
        if refused:
            events.extend(_refusal_events(refused, by_round, now, event_ctx))
            Notification.objects.bulk_create(
                Notification(
                    user_id=b[1],
                    booking_id=bid_id,
                    kind=Notification.Kind.INFO,
                    message=_refusal_message(b, by_round[b[2]], offerings[b[10]], reason)[:500],
                    created_at=now,
                )
                for bid_id, (b, reason) in refused.items()
            )
        PriceHistory.objects.bulk_create(history)
        DomainEvent.objects.bulk_create(events)
        prices = dict(zip(win_ids, win_prices, strict=True))
        for booking_id in win_ids:
            hooks.fire_on_commit("on_booking_confirmed", booking_id)
            hooks.fire_on_commit("on_bid_won", booking_id, prices[booking_id])
        for booking_id in [*lose_ids, *refused]:
            hooks.fire_on_commit("on_bid_lost", booking_id)
        result.rounds, result.bids, result.winners = len(rounds), len(bids), len(win_ids)
    return result


__all__ = [
    "TRANSITIONS",
    "ClearingResult",
    "auctions_clear_due",
    "booking_change_profile",
    "booking_preempt",
    "booking_profile_change_undo",
    "booking_release",
    "booking_request",
    "booking_transition",
    "is_capacity_violation",
    "offering_peak",
    "offering_preempt_all",
    "preemptions_end_due",
    "price_schedule",
    "quote_create",
]
