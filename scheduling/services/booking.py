"""Booking: requesting a slice (fixed, dynamic or auction), buying it, and releasing a booking.

Rules enforced here: a fixed or dynamic request is recorded, then confirmed at once if capacity
allows (checked under the offering's row lock by the booking function, the capacity trigger as the
backstop) and the funds check passes; otherwise it stays visible as rejected with its reason and
SliceTaken (or the funds check's refusal) is raised. A request is checked against the catalogue as
it is when the booking is written (the kept entry's version is checked by the booking function).
Auction slices take a bid instead (see bids). Before anything is written the renter's user-data, SSH
source ranges and ability to log in are checked (scheduling.services.access; the key on file by the
booking function itself): a booking that would give a server nobody can log into is refused, with no
booking and no payment. Only the renter releases a booking or withdraws a bid (owners and admins
preempt instead), a bid only while bidding is open.

Previews (``booking_request_preview``, ``booking_release_preview``) answer what an action would cost
with the same checks and prices, and write nothing: a buy costs the engine's own price (the listed
price, the quote's, or today's dynamic price), a release what billing would charge for it
(``hooks.charge_preview``, the function settlement charges with).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from audit.services import actor_context, record_event
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
from scheduling import catalogue, hooks
from scheduling.errors import BiddingClosed, NobodyCouldLogIn, OfferingNotSelling, SliceTaken
from scheduling.models import CLAIMING_STATES, AuctionRound, Booking, BookingState, Quote
from scheduling.pricing import dynamic_unit_price
from scheduling.services.access import NO_LOGIN, check_access, has_ssh_key
from scheduling.services.bids import _bid_place, _parse_bid
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.quotes import _quote_fields, _quote_for, _quote_seen
from scheduling.services.resolve import _Request, _request_fields, _require_renter, _resolve
from scheduling.services.state import _fits, _move, _need, is_capacity_violation, offering_peak
from scheduling.slices import RESOURCES, SliceKey, utilisation

S = BookingState

# ---- requests: fixed and dynamic ----------------------------------------------------------------


def booking_request(
    *,
    actor: User,
    slice_id: str | SliceKey,
    duration: int | None = None,
    bid: Any = None,
    quote_id: Any = None,
    image: str | None = None,
    user_data: str | None = None,
    ssh_cidrs: Any = None,
) -> Booking:
    """Request a slice. Fixed and dynamic: recorded, then confirmed at once if capacity allows (else
    rejected with its reason and SliceTaken raised). Auction: a sealed bid (or a raise of one's bid)
    that waits for clearing. ``user_data``: cloud-init text for the server (stored encrypted);
    ``ssh_cidrs``: the source ranges allowed to reach SSH (default: the requesting client's address).
    Refused before anything is written when nobody could log into the server (no key, no user-data).
    """
    now = clock.now()
    _require_renter(actor)
    # That somebody could log in (a key on file, without user-data) is checked by the booking function
    # itself for purchases (no round trip of its own), here for bids: before anything is written.
    access = check_access(actor=actor, user_data=user_data, ssh_cidrs=ssh_cidrs, require_login=False)
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
            req = _resolve(
                actor=actor, slice_id=slice_id, duration=duration, image=image, now=now, cached=cached, need_image=True
            )
            req.user_data_encrypted, req.ssh_cidrs = access.user_data_encrypted, access.ssh_cidrs
            if attempt == 2:
                req.version = None
            return _request(actor=actor, req=req, bid=bid, quote_id=quote_id, now=now)
        except _CatalogueStale:
            catalogue.forget()
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
        if not req.user_data_encrypted and not has_ssh_key(actor):
            raise NobodyCouldLogIn(NO_LOGIN, field="user_data")
        return _bid_place(actor=actor, req=req, amount=_parse_bid(bid, req.policy.currency), now=now)
    if bid is not None and bid != "":
        raise ValidationFailed({"bid": ["This slice has a fixed or dynamic price: do not send a bid."]})
    quote = None
    if quote_id:
        if model != PricingPolicy.Model.DYNAMIC:
            raise ValidationFailed({"quote": ["Quotes are only for dynamically priced slices."]})
        quote = _quote_for(actor=actor, req=req, quote_id=quote_id, now=now)
    return _buy(actor=actor, req=req, quote=quote, now=now)


class _CatalogueStale(Exception):
    """The catalogue changed after the entry a request was checked against was read."""


TAKEN_REASON = "Taken: the offering has no capacity left for this profile over that period."


def _record_request(
    *, actor: User, req: _Request, quote: Quote | None, now: datetime, unit: int | None
) -> tuple[Booking, str, list[int], dict[str, int]]:
    """Lock the offering, run the SQL peak check and record the booking with its audit event(s), in one
    call to scheduling_booking_request (scheduling/sql/booking_request.sql). With ``unit`` (a fixed price and no funds
    check to ask) PostgreSQL also decides: confirmed (audit, price history) or rejected (audit).
    Returns the booking (as written), the offering's status, the peak before this booking and the
    offering's capacity as read under the lock."""
    policy, offering, profile = req.policy, req.offering, req.profile
    # Who and where, as audit.services records it; the function writes the audit rows with it.
    audit = {**actor_context(actor=actor), "target_type_id": ContentType.objects.get_for_model(Booking).pk}
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
            "%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::varchar[], %s)",
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
                req.user_data_encrypted,
                req.ssh_cidrs,
                not req.user_data_encrypted,
            ],
        )
        booking_id, status, state, *numbers = cur.fetchone()
    if status == "stale":
        raise _CatalogueStale
    if status == "no_login":
        raise NobodyCouldLogIn(NO_LOGIN, field="user_data")
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
                    prices_record(
                        [PricePoint(offering.pk, profile.pk, policy.model, unit, policy.currency, util)], at=now
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
            hooks.booking_event(booking.pk, "transition", S.REQUESTED, S.REJECTED, now, reason=booking.reason)
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


# ---- previews: what an action costs, before it is taken -----------------------------------------


@dataclass(frozen=True)
class CostPreview:
    """What an action costs (minor units of ``currency``): ``charge`` is what the booking is charged in
    all (None: no billing to ask), of the ``held`` now (0 before a buy); a profile change moves the
    booking's price from ``price_before`` to ``price_after``. ``note`` says when it is charged."""

    action: str  # buy, bid, release, withdraw, change_profile, extend
    currency: str
    charge: int | None
    held: int = 0
    price_before: int | None = None
    price_after: int | None = None
    booking_id: int | None = None
    note: str = ""

    @property
    def refund(self) -> int | None:
        """What returns to the renter of what is held (for a buy: nothing is held yet, 0)."""
        return None if self.charge is None else max(self.held - self.charge, 0)

    @property
    def extra(self) -> int | None:
        """What a profile change adds to (or, negative, takes off) the booking's price."""
        if self.price_before is None or self.price_after is None:
            return None
        return self.price_after - self.price_before


class _DryRun(Exception):
    """Rolls back an action taken only to see what it would cost."""

    def __init__(self, preview: CostPreview) -> None:
        super().__init__("dry run")
        self.preview = preview


def dry_run(act: Callable[[], CostPreview]) -> CostPreview:
    """What ``act`` answers when it takes an action inside a transaction that is then rolled back: the
    action's own checks, locks and prices, nothing kept, its after-commit hooks discarded with it. For
    previews of changes to a live booking (a profile change; an extension)."""
    try:
        with transaction.atomic():
            raise _DryRun(act())
    except _DryRun as dry:
        return dry.preview


def booking_request_preview(
    *,
    actor: User,
    slice_id: str | SliceKey,
    duration: int | None = None,
    bid: Any = None,
    quote_id: Any = None,
    image: str | None = None,
    user_data: str | None = None,
    ssh_cidrs: Any = None,
    require_login: bool = True,
) -> CostPreview:
    """What buying (or bidding for) this slice would cost, by the engine's own price, checked as a request
    is (the owner's rules, the quote, capacity now, what the server carries) and writing nothing. An
    expired quote is not renewed here: the preview prices the slice at today's dynamic price, and the
    buy offers a fresh quote. ``require_login=False``: for the portal's buy form, shown before the
    renter has typed their user-data (the buy itself always checks that somebody could log in)."""
    now = clock.now()
    _require_renter(actor)
    check_access(actor=actor, user_data=user_data, ssh_cidrs=ssh_cidrs, require_login=require_login)
    req = _resolve(actor=actor, slice_id=slice_id, duration=duration, image=image, now=now, need_image=True)
    policy, currency = req.policy, req.policy.currency
    if policy.model == PricingPolicy.Model.AUCTION:
        if quote_id:
            raise ValidationFailed({"quote": ["Auction slices take a bid, not a quote."]})
        if bid is None or bid == "":
            raise ValidationFailed({"bid": ["This slice is sold by auction: send a bid (per grid unit)."]})
        amount = _parse_bid(bid, currency) * req.units
        note = "A bid is charged only if it wins, at its round's clearing price: at most this."
        return CostPreview(action="bid", currency=currency, charge=amount, note=note)
    if bid is not None and bid != "":
        raise ValidationFailed({"bid": ["This slice has a fixed or dynamic price: do not send a bid."]})
    note = "Held from your balance when booked; charged for the time used when the booking ends."
    if quote_id and policy.model != PricingPolicy.Model.DYNAMIC:
        raise ValidationFailed({"quote": ["Quotes are only for dynamically priced slices."]})
    if policy.model == PricingPolicy.Model.DYNAMIC:
        quote = _quote_seen(actor=actor, req=req, quote_id=quote_id) if quote_id else None
        if quote is not None and quote.expires_at <= now:
            note = (
                f"The quote expired at {quote.expires_at:%H:%M:%S} UTC: this is today's price, and buying "
                "offers a fresh quote at it."
            )
            quote = None
        unit = quote.unit_price if quote is not None else int(_quote_fields(req, now)["unit_price"])
    else:
        unit = int(policy.price_per_unit or 0)
    if not _fits(
        offering_peak(req.offering.pk, req.starts_at, req.ends_at), _need(req.profile), req.offering.sellable_capacity()
    ):
        raise SliceTaken("This slice is taken: the offering has no capacity left for it.")
    return CostPreview(
        action="buy", currency=currency, charge=unit * req.units, price_after=unit * req.units, note=note
    )


def booking_release_preview(*, actor: User, booking_id: int) -> CostPreview:
    """What releasing this booking now would charge (billing's own computation) and return, with the
    release's own checks; writes nothing. Withdrawing a bid costs nothing."""
    booking = _releasable(actor, booking_id)
    if booking.auction_round_id and booking.state == S.REQUESTED:
        return CostPreview(
            action="withdraw", currency=booking.currency, charge=0, booking_id=booking.pk, note="A bid costs nothing."
        )
    if booking.state not in CLAIMING_STATES:
        raise InvalidTransition(f"A booking that is {booking.state} cannot be released.")
    return release_cost(booking, clock.now())


def booking_cost(booking: Booking) -> CostPreview:
    """What a booking just bought holds (its price, charged for the time used when it ends), or a bid
    placed commits at most (the bid per unit times its units)."""
    if booking.state == S.REQUESTED and booking.bid_amount is not None:
        units = booking.duration_seconds // max(booking.grid_seconds, 1)
        amount = int(booking.bid_amount) * units
        return CostPreview(action="bid", currency=booking.currency, charge=amount, booking_id=booking.pk)
    total = int(booking.total_price or 0)
    return CostPreview(
        action="buy",
        currency=booking.currency,
        charge=total,
        held=total,
        price_after=total,
        booking_id=booking.pk,
        note="Held from your balance now; charged for the time used when the booking ends.",
    )


def release_cost(booking: Booking, at: datetime) -> CostPreview:
    """What a booking released at ``at`` is charged, as billing computes it (``hooks.charge_preview``);
    after the release, with ``at`` its end, the charge billing made."""
    held = int(booking.total_price or 0)
    found = hooks.charge_preview(booking, at, "released")
    return CostPreview(
        action="release",
        currency=booking.currency,
        charge=found.amount if found is not None else None,
        held=held,
        price_before=held,
        price_after=held,
        booking_id=booking.pk,
    )


# ---- release ------------------------------------------------------------------------------------


def _releasable(actor: User, booking_id: int) -> Booking:
    """The actor's own booking; the offering's owner and admins get 403, anyone else 404."""
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
            raise PermissionDeniedError("Only the renter can release a booking; owners and admins preempt it.")
        raise NotFoundError("No such booking.")
    return booking


def booking_release(*, actor: User, booking_id: int) -> Booking:
    """The renter ends a booking early (capacity reopens) or withdraws a bid before bidding closes.

    Only the renter may: the offering's owner and admins preempt instead (403); anyone else gets 404.
    """
    now = clock.now()
    booking = _releasable(actor, booking_id)
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
