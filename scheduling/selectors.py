"""Reads of the market, restricted to what the user may see; slice search.

Search computes slices from availability windows, the grid and current claims:
one query for the candidate (offering, profile) prices, one for the claims of
all candidate offerings over the range, one for their open auction rounds,
then Python. It returns at most ``per_offering`` slices per offering/profile
(the earliest starts that fit), so the answer stays small and fast. Without a length asked for,
each offering is searched at its shortest slice, so every offering with free time shows.
When nothing matches, ``explain_empty`` says why from the cached catalogue (no query).
"""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from accounts.models import User
from marketplace.lib import clock, inputs
from marketplace.lib.db import fetch_prepared
from marketplace.lib.durations import format_length
from marketplace.lib.errors import DomainError, NotFoundError, ValidationFailed
from marketplace.lib.money import exponent, format_minor, prorate
from owners.availability import covers, window_intervals
from owners.models import Offering, PricingPolicy
from owners.selectors import offerings_for_owner
from renters import selectors as renter_selectors
from renters.hooks import PriceChange
from scheduling import catalogue, hooks
from scheduling.models import CLAIMING_STATES, AuctionRound, Booking, BookingState, PriceHistory
from scheduling.pricing import dynamic_unit_price
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.state import ENDED
from scheduling.slices import RESOURCES, SliceKey, Timeline, align_up_epoch, decode_slice_id, utilisation

MAX_RANGE = timedelta(days=31)
MAX_CANDIDATES = 2000  # grid points examined per offering/profile before giving up
FIXED, AUCTION, DYNAMIC = PricingPolicy.Model.FIXED, PricingPolicy.Model.AUCTION, PricingPolicy.Model.DYNAMIC


@dataclass
class Slice:
    key: SliceKey
    offering: Offering
    policy: PricingPolicy
    starts_at: datetime
    ends_at: datetime
    unit_price: int
    units: int
    utilisation: float
    auction: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.key.encode()

    @property
    def total_price(self) -> int:
        return self.unit_price * self.units

    @property
    def price_per_second(self) -> float:
        return self.unit_price / self.offering.grid_seconds

    @property
    def price_per_hour(self) -> int:
        """The unit price scaled to an hour (minor units, rounded half up), so grids compare."""
        grid = self.offering.grid_seconds
        return (self.unit_price * 3600 + grid // 2) // grid

    @property
    def profile(self):  # type: ignore[no-untyped-def]
        return self.policy.profile


@dataclass
class SearchQuery:
    start: datetime
    end: datetime
    vcpus: int | None = None
    ram_mib: int | None = None
    disk_gb: int | None = None
    bandwidth_mbps: int | None = None
    profile_id: int | None = None
    offering_id: int | None = None
    region: str | None = None
    max_price: Decimal | None = None  # per grid unit, major units: in ``currency``, else in each slice's
    currency: str | None = None  # only slices priced in this currency
    duration: int | None = None  # seconds; None: each offering's shortest slice
    ordering: str = "price"
    per_offering: int = 3


ORDERINGS = {
    # "price" is the price per second of the slice (comparable across grids and lengths), cheapest first.
    "price": lambda s: (s.price_per_second, s.starts_at, s.key.offering_id, s.key.profile_id),
    "-price": lambda s: (-s.price_per_second, s.starts_at, s.key.offering_id, s.key.profile_id),
    "start": lambda s: (s.starts_at, s.price_per_second, s.key.offering_id, s.key.profile_id),
    "-start": lambda s: (-s.starts_at.timestamp(), s.price_per_second, s.key.offering_id, s.key.profile_id),
}


def _length_for(offering: Offering, q: SearchQuery) -> int | None:
    grid = offering.grid_seconds
    if q.duration is None:
        # The shortest slice it sells: any offering with free time then shows (asking for the whole
        # range, or the longest length, hid offerings open only part of it, such as night auctions).
        return offering.min_length_seconds
    length = q.duration
    if length % grid or not offering.min_length_seconds <= length <= offering.max_length_seconds:
        return None
    return length


def slices_search(*, user: User | None, q: SearchQuery, limit: int | None = None) -> list[Slice]:
    """Slices a renter can take now, sorted by ``q.ordering``; fixed prices, and dynamic ones of the
    soonest shortest slices, are recorded in the price history when they changed (``_slices_for``).

    With ``limit``, stops as soon as no remaining offering can enter the best ``limit`` slices
    (policies are scanned cheapest per second first), so a page costs a page's work.
    """
    if q.end <= q.start:
        raise ValidationFailed({"end": ["The end must be after the start."]})
    if q.end - q.start > MAX_RANGE:
        raise ValidationFailed({"end": ["Search at most 31 days at a time."]})
    if q.ordering not in ORDERINGS:
        raise ValidationFailed({"ordering": [f"Order by one of: {', '.join(ORDERINGS)}."]})
    now = clock.now()
    begin = max(q.start, now)
    sort_key = ORDERINGS[q.ordering]
    try:
        found, history = _search(user, q, limit, catalogue.for_search(), begin, now, sort_key, check=True)
    except _CatalogueChanged:
        # Reload once; should it change again meanwhile, this search uses the catalogue it just read.
        catalogue.forget()
        found, history = _search(user, q, limit, catalogue.for_search(), begin, now, sort_key, check=False)
    prices_record(history, at=now)
    found.sort(key=sort_key)
    return found if limit is None else found[:limit]


def _candidates(catalogue: dict[str, Any], q: SearchQuery) -> list[PricingPolicy]:
    """The published catalogue's policies matching the query, cheapest per second first (or by id).

    Remembered per catalogue for each distinct filter (renters ask for a handful of sizes), so a
    search does not scan the whole catalogue; the memo goes with the catalogue when it changes."""
    region = q.region.upper() if q.region else None
    vcpus, ram, disk, bandwidth = q.vcpus or 0, q.ram_mib or 0, q.disk_gb or 0, q.bandwidth_mbps or 0
    memo = catalogue["candidates"]
    memo_key = (vcpus, ram, disk, bandwidth, q.profile_id, q.offering_id, region, q.currency, q.ordering == "price")
    found = memo.get(memo_key)
    if found is not None:
        return found
    out = [
        p
        for (v, r, d, b, profile_id, offering_id, offering_region, p) in catalogue["rows"]
        if v >= vcpus
        and r >= ram
        and d >= disk
        and b >= bandwidth
        and (not q.profile_id or profile_id == q.profile_id)
        and (not q.offering_id or offering_id == q.offering_id)
        and (region is None or offering_region == region)
        and (q.currency is None or p.currency == q.currency)
    ]
    if q.ordering != "price":
        out.sort(key=lambda p: (p.offering_id, p.profile_id))
    if len(memo) >= 512:  # bounded: odd filters from many clients must not grow a process forever
        memo.clear()
    memo[memo_key] = out
    return out


def _search(
    user: User | None,
    q: SearchQuery,
    limit: int | None,
    catalogue: dict[str, Any],
    begin: datetime,
    now: datetime,
    sort_key: Any,
    *,
    check: bool,
) -> tuple[list[Slice], list[PricePoint]]:
    policies = _candidates(catalogue, q)
    rest_lower = _suffix_lower(policies) if q.ordering == "start" and limit is not None else {}
    found: list[Slice] = []
    history: list[PricePoint] = []
    offset = 0
    # First chunk: about what one page needs; then doubling (bounded) while more are needed.
    size = min(CHUNK, -(-(limit or CHUNK) // max(q.per_offering, 1)) + 4)
    done = False
    first = check
    while not done:
        chunk = policies[offset : offset + size]
        offset += size
        if len(chunk) < size:
            done = True
        size = min(size * 2, CHUNK)
        if q.max_price is not None:
            chunk = [p for p in chunk if _floor_price(p) <= _minor_ceiling(q.max_price, p.currency)]
        if not chunk and not first:  # the first chunk's query also checks the catalogue
            continue
        # The first claims query also tells whether the cached catalogue is still the database's.
        ctx = _chunk_context(user, chunk, q, catalogue, check=catalogue["fingerprint"] if first else None)
        first = False
        for p in chunk:
            if limit is not None and len(found) >= limit:
                verdict = _cannot_beat(found, p, q, begin, limit, sort_key, rest_lower.get(p.pk))
                if verdict == "stop":
                    done = True
                    break
                if verdict == "skip":
                    continue
            found.extend(_slices_for(p, q, ctx, begin, now, history))
    return found, history


# ---- the catalogue: published prices with their offering, profile and windows --------------------
#
# Every search needs the whole published catalogue (about 1,000 policies here) in price order; the
# process keeps it (scheduling.catalogue, shared with booking). Every search checks its version in
# the same call as its claims query (one round trip, no extra query) and reloads on a mismatch, so a
# search never uses a catalogue older than the snapshot its claims come from.


class _CatalogueChanged(Exception):
    pass


CHUNK = 200


def _suffix_lower(policies: list[PricingPolicy]) -> dict[int, Any]:
    """{policy id: the lowest price per second of it and every policy after it in ``policies``}."""
    out: dict[int, Any] = {}
    low: Any = None
    for p in reversed(policies):
        bound = p.lower_per_second  # type: ignore[attr-defined]
        low = bound if low is None or bound < low else low
        out[p.pk] = low
    return out


def _cannot_beat(
    found: list[Slice],
    p: PricingPolicy,
    q: SearchQuery,
    begin: datetime,
    limit: int,
    sort_key: Any,
    rest_lower: Any = None,
) -> str | None:
    """ "stop" when no slice of ``p`` or of any later policy can enter the best ``limit`` found so far,
    "skip" when ``p``'s cannot (later ones may), None when they may.

    Ties decide pages: a slice that ties with the ``limit``-th on the ordering's leading keys is placed
    by the rest of the key (ORDERINGS), so it is stopped for only when the rest of the key also puts it
    after; otherwise walking the pages would list one slice twice and skip another. ``rest_lower`` is
    the lowest price per second of ``p`` and the policies after it (``start`` ordering only)."""
    found.sort(key=sort_key)
    kth = found[limit - 1]
    bound = p.lower_per_second  # type: ignore[attr-defined]
    if q.ordering == "price":
        # Scanned by (lowest price per second, offering, profile): a later policy at kth's price
        # starting at ``begin`` goes before kth when its offering/profile sorts first.
        if bound > kth.price_per_second:
            return "stop"
        tie = bound == kth.price_per_second and kth.starts_at <= begin
        return "stop" if tie and (p.offering_id, p.profile_id) >= (kth.key.offering_id, kth.key.profile_id) else None
    if q.ordering == "start" and kth.starts_at <= begin:
        # Nothing starts before ``begin``: a later slice starting then beats kth only by a lower price
        # (scanned by offering and profile, so on an equal price kth, found earlier, sorts first).
        if rest_lower is not None and rest_lower >= kth.price_per_second:
            return "stop"
        return "skip" if bound >= kth.price_per_second else None
    return None


def _chunk_context(
    user: User | None,
    chunk: Sequence[PricingPolicy],
    q: SearchQuery,
    catalogue: dict[str, Any],
    check: str | None = None,
) -> dict[str, Any]:
    """Windows (from the catalogue), claims and open rounds of a chunk's offerings: one query (two
    with auctions, three with the user's bids). With ``check``, raises _CatalogueChanged when the
    catalogue's fingerprint is no longer ``check``."""
    offering_ids = sorted({p.offering_id for p in chunk})
    windows = catalogue["windows"]
    claims: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # scheduling_search_claims (scheduling/sql/search_claims.sql): the claims over the range through the partial GiST
    # index, preceded by the catalogue's fingerprint when asked; PL/pgSQL, so planned once per connection,
    # and called through a prepared statement. Instants as seconds since the epoch: search works in
    # those (parsing timestamps cost more).
    rows = fetch_prepared(
        "SELECT c.fingerprint, c.offering_id, extract(epoch FROM c.starts_at)::float8, "
        "extract(epoch FROM c.ends_at)::float8, c.vcpus, c.ram_mib, c.disk_gb, c.bandwidth_mbps "
        "FROM scheduling_search_claims(%s::bigint[], %s::timestamptz, %s::timestamptz, %s::boolean) c",
        [offering_ids, q.start, q.end, check is not None],
    )
    if check is not None:
        if rows[0][0] != check:
            raise _CatalogueChanged
        rows = rows[1:]
    for row in rows:
        claims[row[1]].append(dict(zip(("starts_at", "ends_at", *RESOURCES), row[2:], strict=True)))
    rounds = (
        {
            (r.offering_id, r.profile_id, r.starts_at, r.ends_at): r
            for r in AuctionRound.objects.filter(
                offering_id__in=offering_ids, starts_at__gte=q.start, starts_at__lt=q.end, state=AuctionRound.State.OPEN
            )
        }
        if any(p.model == PricingPolicy.Model.AUCTION for p in chunk)
        else {}
    )
    my_bids: dict[int, int] = {}
    if user is not None and user.is_authenticated and rounds:
        my_bids = {
            round_id: int(amount or 0)
            for round_id, amount in Booking.objects.filter(
                renter=user, state="requested", auction_round_id__in=[r.pk for r in rounds.values()]
            ).values_list("auction_round_id", "bid_amount")
            if round_id is not None
        }
    return {"windows": windows, "claims": claims, "rounds": rounds, "my_bids": my_bids, "timelines": {}}


def _slices_for(
    p: PricingPolicy, q: SearchQuery, ctx: dict[str, Any], begin: datetime, now: datetime, history: list[PricePoint]
) -> list[Slice]:
    """The earliest ``q.per_offering`` slices of one offering/profile that fit windows, grid and capacity;
    the price the series serves now goes to ``history`` (see ``to_record``).

    Works in seconds since the UNIX epoch (claims come as such); datetimes only for the slices found."""
    out: list[Slice] = []
    offering = p.offering
    length = _length_for(offering, q)
    if length is None:
        return out
    offering_id, profile_id, model, profile = offering.id, p.profile_id, p.model, p.profile
    grid = offering.grid_seconds
    timelines = ctx["timelines"]
    tl = timelines.get(offering_id)
    if tl is None:
        tl = timelines[offering_id] = Timeline.build(offering.sellable_capacity(), ctx["claims"].get(offering_id, ()))
    open_at = [
        (lo.timestamp(), hi.timestamp())
        for lo, hi in window_intervals(ctx["windows"].get(offering_id, []), offering.timezone, begin, q.end)
    ]
    need = [profile.vcpus, profile.ram_mib, profile.disk_gb, profile.bandwidth_mbps]
    closes = int(p.bidding_closes_seconds or 0)
    last = q.end.timestamp()
    now_s = now.timestamp()
    t = align_up_epoch(begin.timestamp(), grid)
    # Fast paths for the common case: open all along (no windows) and nothing claimed yet.
    always_open = len(open_at) == 1 and open_at[0][0] <= t and open_at[0][1] >= last
    unclaimed = not tl.points and tl.fits(t, t + length, need)
    ceiling = _minor_ceiling(q.max_price, p.currency) if q.max_price is not None else None
    examined = 0
    # The price history takes one point per series: a fixed price from any search; a dynamic one
    # (which depends on the slice) only as the price of the soonest shortest slice, so searches for
    # other lengths or later days do not make the series flip between their prices.
    to_record = model == FIXED or (model == DYNAMIC and length == offering.min_length_seconds and q.start <= now)
    while t + length <= last and len(out) < q.per_offering and examined < MAX_CANDIDATES:
        examined += 1
        end = t + length
        if model == AUCTION and t - closes <= now_s:
            t += grid
            continue
        if not always_open and not covers(open_at, t, end):  # type: ignore[arg-type]
            t = _next_open(open_at, t, grid)
            continue
        if not unclaimed and not tl.fits(t, end, need):
            t += grid
            continue
        util = 0.0
        auction = None
        starts_at = datetime.fromtimestamp(t, UTC)
        ends_at = datetime.fromtimestamp(end, UTC)
        if model == FIXED:
            unit = int(p.price_per_unit or 0)
        elif model == AUCTION:
            unit = int(p.reserve_price or 0)
            rnd = ctx["rounds"].get((offering_id, profile_id, starts_at, ends_at))
            auction = {
                "round": rnd.pk if rnd else None,
                "state": "open",
                "closes_at": starts_at - timedelta(seconds=closes),
                "reserve_price": unit,
                "clearing_rule": p.clearing_rule,
                "bids": rnd.bids_count if rnd else 0,
                "your_bid": ctx["my_bids"].get(rnd.pk) if rnd else None,
            }
        else:
            util = utilisation(tl.peak(t, end), offering.sellable_capacity())
            unit = dynamic_unit_price(p, util)
        if to_record:  # the earliest slice's, whatever the price ceiling asked
            to_record = False
            history.append(
                PricePoint(offering_id, profile_id, model, unit, p.currency, util if model == DYNAMIC else None)
            )
        if ceiling is not None and unit > ceiling:
            t += grid
            continue
        key = SliceKey(offering_id, profile_id, t, length)
        out.append(Slice(key, offering, p, starts_at, ends_at, unit, length // grid, util, auction))
        t += grid
    return out


def _next_open(intervals: list[tuple[float, float]], t: int, grid: int) -> int:
    for lo, _hi in intervals:
        if lo > t:
            return align_up_epoch(lo, grid)
    # t is inside an interval that is too short from here: move one grid step.
    return t + grid


def _floor_price(p: PricingPolicy) -> int:
    if p.model == PricingPolicy.Model.FIXED:
        return int(p.price_per_unit or 0)
    if p.model == PricingPolicy.Model.AUCTION:
        return int(p.reserve_price or 0)
    return int(p.floor_price or 0)


def _minor_ceiling(value: Decimal, currency: str) -> int:
    return int((value.scaleb(exponent(currency))).to_integral_value(rounding="ROUND_FLOOR"))


# ---- why a search found nothing ------------------------------------------------------------------


def explain_empty(q: SearchQuery) -> dict[str, Any]:
    """Why ``q`` found no slice, in the renter's words, and the nearest search that would find some:
    {"reason": str, "suggestion": str | None, "params": {query parameter: new value, None = drop}}.
    Reads the cached catalogue only (no query); called only when a search came back empty."""
    now = clock.now()
    if q.end <= now:
        return _why(
            f"The range you searched ends in the past ({q.end:%Y-%m-%d %H:%M} UTC); slices start from now on.",
            "Search from now instead.",
            start=None,
            end=None,
        )
    cat = catalogue.for_search()
    regions = sorted({row[6] for row in cat["rows"]})
    region = q.region.upper() if q.region else None
    if region is not None and region not in regions:
        near = difflib.get_close_matches(region, regions, n=1, cutoff=0.0)
        listed = ", ".join(regions) or "none yet"
        return _why(
            f"No offering is in region {q.region!r}. Regions with offerings: {listed}.",
            f"Search in {near[0]}." if near else None,
            region=near[0] if near else None,
        )
    policies = _candidates(cat, q)
    if not policies:
        if q.currency and _candidates(cat, SearchQuery(**{**q.__dict__, "currency": None})):
            return _why(f"No offering with these resources is priced in {q.currency}.", "Any currency.", currency=None)
        return _why("No offering has a profile with these resources.", "Ask for fewer resources.")
    if q.duration is not None:
        offerings = {p.offering_id: p.offering for p in policies}.values()
        if not any(_length_for(o, q) for o in offerings):
            return _length_advice(q.duration, list(offerings))
    if q.max_price is not None:
        cheapest = min(policies, key=lambda p: _floor_price(p) / p.offering.grid_seconds)
        if all(_floor_price(p) > _minor_ceiling(q.max_price, p.currency) for p in policies):
            price = Decimal(_floor_price(cheapest)).scaleb(-exponent(cheapest.currency))
            return _why(
                f"Every offering that fits costs more than {q.max_price} per grid unit; the cheapest starts "
                f"at {format_minor(_floor_price(cheapest), cheapest.currency)} per "
                f"{format_length(cheapest.offering.grid_seconds)}.",
                f"Allow up to {price} {cheapest.currency}.",
                max_price=str(price),
                currency=cheapest.currency,
            )
    return _why(
        "Every offering that fits is fully booked or closed in this range.",
        "Search the next day.",
        start=q.end.strftime("%Y-%m-%dT%H:%M"),
        end=(q.end + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    )


def _why(reason: str, suggestion: str | None, **params: Any) -> dict[str, Any]:
    return {"reason": reason, "suggestion": suggestion, "params": params}


def _length_advice(length: int, offerings: list[Offering]) -> dict[str, Any]:
    """The length sold nearest to ``length``: a multiple of an offering's grid within its limits."""
    best: int | None = None
    for o in offerings:
        grid = o.grid_seconds
        lo = -(-o.min_length_seconds // grid) * grid
        hi = o.max_length_seconds // grid * grid
        if lo > hi:
            continue
        near = min(max(round(length / grid) * grid, lo), hi)
        if best is None or (abs(near - length), near) < (abs(best - length), best):
            best = near
    grids = ", ".join(format_length(g) for g in sorted({o.grid_seconds for o in offerings}))
    if all(length % o.grid_seconds for o in offerings):
        reason = (
            f"No offering sells {format_length(length)} slices: a length is a whole number of grid units ({grids})."
        )
    elif all(length > o.max_length_seconds for o in offerings):
        longest = max(o.max_length_seconds for o in offerings)
        reason = f"{format_length(length)} is longer than any offering sells (at most {format_length(longest)})."
    else:
        reason = f"No offering sells slices of {format_length(length)} (grids {grids}, within each one's limits)."
    if best is None:
        return _why(reason, None)
    return _why(reason, f"Try {format_length(best)}.", duration=format_length(best))


# ---- price history ------------------------------------------------------------------------------


def offering_for_prices(user: User | None, offering_id: int) -> Offering:
    """An offering whose prices the user may see: any published one, or one of their own."""
    visible = Q(status=Offering.Status.PUBLISHED)
    if user is not None and user.is_authenticated:
        visible |= Q(pk__in=offerings_for_owner(user).values("pk"))
    offering = Offering.objects.filter(visible, pk=offering_id).first()
    if offering is None:
        raise NotFoundError("No such offering.")
    return offering


def price_history(
    *,
    offering: Offering,
    since: datetime,
    until: datetime,
    profile_id: int | None = None,
    source: str | None = None,
) -> QuerySet[PriceHistory]:
    """The offering's price points from ``since`` to ``until`` (half-open), oldest first, each series
    (profile, source) led by its point in force at ``since`` (when it has one), so a step line
    starts at the right price. The range is at most MARKETPLACE_MAX_RANGE_DAYS long; ``profile_id``
    must be a profile the offering prices."""
    if until <= since:
        raise ValidationFailed({"until": ["The end (until) must be after the start (since)."]})
    too_long = inputs.range_error(since, until)
    if too_long:
        raise ValidationFailed({"until": [too_long]})
    points = PriceHistory.objects.filter(offering=offering)
    if profile_id is not None:
        if not offering.pricing_policies.filter(profile_id=profile_id).exists():
            raise ValidationFailed({"profile": [f"Offering {offering.pk} has no price for profile {profile_id}."]})
        points = points.filter(profile_id=profile_id)
    if source is not None:
        points = points.filter(source=source)
    in_force = (
        points.filter(at__lt=since)
        .order_by("profile_id", "source", "-at", "-id")
        .distinct("profile_id", "source")
        .values("pk")
    )
    return points.filter(Q(at__gte=since, at__lt=until) | Q(pk__in=in_force)).order_by("at", "id")


def price_changes(
    offering: Offering, since: datetime, until: datetime, limit: int, /, profile_id: int | None = None
) -> list[PriceChange]:
    """``price_history`` for the renters' offering page and the slice search's inline charts
    (renters.hooks): its latest ``limit`` points, of one profile when ``profile_id`` is given."""
    points = price_history(offering=offering, since=since, until=until, profile_id=profile_id)
    points = points.order_by("-at", "-id")[:limit]
    rows = points.values_list("profile_id", "source", "at", "unit_price", "currency")
    return [PriceChange(*row) for row in reversed(rows)]


# ---- bookings, bids, rounds, notifications ------------------------------------------------------


def bookings_for_renter(user: User) -> QuerySet[Booking]:
    if not user.is_authenticated:
        return Booking.objects.none()
    return Booking.objects.filter(renter=user).select_related("offering", "profile", "auction_round")


def booking_for_renter(user: User, booking_id: int) -> Booking:
    booking = bookings_for_renter(user).filter(pk=booking_id).first()
    if booking is None:
        raise NotFoundError("No such booking.")
    return booking


def bookings_for_owner(user: User) -> QuerySet[Booking]:
    """Bookings on the offerings the user owns (all of them for staff)."""
    if not user.is_authenticated:
        return Booking.objects.none()
    qs = Booking.objects.select_related("offering", "profile", "renter", "auction_round")
    if user.is_superuser:
        return qs
    offerings = get_objects_for_user(user, "owners.change_offering", klass=Offering, accept_global_perms=False)
    return qs.filter(offering__in=offerings)


def bookings_live_for_renter(user: User, now: datetime) -> QuerySet[Booking]:
    """The renter's bookings running or still to come (holding capacity, not yet over), soonest first."""
    return bookings_for_renter(user).filter(state__in=CLAIMING_STATES, ends_at__gt=now).order_by("starts_at", "pk")


def bookings_starting_soon_for_owner(user: User, now: datetime, within: timedelta) -> QuerySet[Booking]:
    """Confirmed bookings on the user's offerings that start in [now, now + within), soonest first."""
    return (
        bookings_for_owner(user)
        .filter(state=BookingState.CONFIRMED, starts_at__gte=now, starts_at__lt=now + within)
        .order_by("starts_at", "pk")
    )


def rounds_for_owner(user: User) -> QuerySet[AuctionRound]:
    if not user.is_authenticated:
        return AuctionRound.objects.none()
    qs = AuctionRound.objects.select_related("offering", "profile")
    if user.is_superuser:
        return qs
    offerings = get_objects_for_user(user, "owners.change_offering", klass=Offering, accept_global_perms=False)
    return qs.filter(offering__in=offerings)


def booking_usage(user: User, booking_id: int) -> dict[str, Any]:
    """Times, state and charges so far, plus the series, totals and seconds held that provisioning
    metered (hook ``usage_for_booking``)."""
    b = booking_for_renter(user, booking_id)
    now = clock.now()
    stop = min(now, b.ended_at or b.ends_at, b.ends_at)
    elapsed = (
        max(0, int((stop - b.starts_at).total_seconds())) if b.state not in ("requested", "rejected", "outbid") else 0
    )
    charged = charges_so_far(b, now, elapsed)
    return {
        "booking": b.pk,
        "state": b.state,
        "starts_at": b.starts_at,
        "ends_at": b.ends_at,
        "ended_at": b.ended_at,
        "preempt_deadline": b.preempt_deadline,
        "elapsed_seconds": elapsed,
        "currency": b.currency,
        "total_price_minor": b.total_price,
        "charges_so_far_minor": charged,
    } | {k: v for k, v in hooks.usage_for_booking(b).items() if k in ("samples", "totals", "seconds_held")}


def charges_so_far(b: Booking, now: datetime, elapsed: int) -> int:
    """What the booking has cost by ``now``, in minor units: billing's own charge (hook ``charge_preview``:
    what settlement charges for how it ended, or would charge were it released now, the release policy
    and credits included), the figure the portal's running cost shows; nothing before it starts. A
    share of the price by the ``elapsed`` seconds when no billing prices it."""
    if not b.total_price or b.state in ("requested", "rejected", "outbid") or now < b.starts_at:
        return 0
    if b.state in ENDED:
        preview = hooks.charge_preview(b, b.ended_at or b.ends_at, b.state)
    else:
        stop = min(b.ends_at, b.preempt_deadline or b.ends_at)
        preview = hooks.charge_preview(b, min(now, stop), "released")
    if preview is not None:
        return preview.amount
    return prorate(b.total_price, min(elapsed, b.duration_seconds), b.duration_seconds)


# While a booking's server is the renter's, its cost grows by the second.
METERED_STATES = (BookingState.RUNNING, BookingState.NOTICE)


@dataclass(frozen=True)
class RunningCost:
    """What a booking has cost, in minor units: ``amount`` at ``since``, growing by ``rate_per_second`` up to
    ``ceiling`` while ``metered`` (its server is the renter's); once it ended, the charge of how it ended."""

    amount: int
    currency: str
    since: datetime
    rate_per_second: float
    ceiling: int
    metered: bool
    settled: bool

    @property
    def currency_exponent(self) -> int:
        return exponent(self.currency)


def booking_running_cost(booking: Booking, at: datetime | None = None) -> RunningCost | None:
    """The cost so far of a booking that runs or ran, from billing's own charge (hook ``charge_preview``,
    the function settlement charges with): were it released at ``at``, and at its end (the slice's end or
    the notice deadline), whose difference over the time left is the rate it grows at. After it ended:
    the charge of how it ended. None for a booking that never ran or that no billing prices."""
    at = at or clock.now()
    if booking.state in ENDED:
        ended = booking.ended_at or booking.ends_at
        final = hooks.charge_preview(booking, ended, booking.state)
        if final is None:
            return None
        return RunningCost(final.amount, final.currency, ended, 0.0, final.amount, False, final.settled)
    if booking.state not in METERED_STATES:
        return None
    stop = min(booking.ends_at, booking.preempt_deadline or booking.ends_at)
    now = hooks.charge_preview(booking, min(at, stop), "released")
    end = hooks.charge_preview(booking, stop, "released")
    if now is None or end is None:
        return None
    since = max(at, booking.starts_at)  # nothing is charged before the slice starts
    left = (stop - since).total_seconds()
    rate = max(end.amount - now.amount, 0) / left if left > 0 else 0.0
    return RunningCost(now.amount, now.currency, since, rate, end.amount, True, False)


# ---- bid preview: what a bid would have done in recent rounds -----------------------------------

BID_PREVIEW_ROUNDS = 10


@dataclass(frozen=True)
class BidPreview:
    """How a bid of ``bid`` (minor units per grid unit) would have fared in the last ``rounds`` cleared
    rounds of one offering and profile: ``would_win`` of them had a threshold at or under it (their
    clearing price; their reserve when nobody won), and the clearing prices' spread."""

    currency: str
    rounds: int
    bid: int | None = None
    would_win: int = 0
    low: int | None = None
    median: int | None = None
    high: int | None = None


def bid_preview(*, offering_id: int, profile_id: int, bid: int | None, rounds: int = BID_PREVIEW_ROUNDS) -> BidPreview:
    """What ``bid`` would have cleared at in the latest cleared auction rounds of this offering and
    profile (any renter's: clearing prices are the market's, not a bidder's). A round whose clearing
    price is set was won by bids at or above it; one nobody won, by any bid at or above its reserve."""
    latest = list(
        AuctionRound.objects.filter(offering_id=offering_id, profile_id=profile_id, state=AuctionRound.State.CLEARED)
        .order_by("-cleared_at", "-id")
        .values_list("clearing_price", "reserve_price", "currency")[:rounds]
    )
    if not latest:
        currency = PricingPolicy.objects.filter(offering_id=offering_id, profile_id=profile_id).values_list(
            "currency", flat=True
        )
        return BidPreview(currency=currency.first() or "", rounds=0, bid=bid)
    thresholds = [price if price is not None else reserve for price, reserve, _ in latest]
    prices = sorted(price for price, _, _ in latest if price is not None)
    return BidPreview(
        currency=latest[0][2],
        rounds=len(latest),
        bid=bid,
        would_win=sum(1 for t in thresholds if bid is not None and bid >= t),
        low=prices[0] if prices else None,
        median=round(statistics.median(prices)) if prices else None,
        high=prices[-1] if prices else None,
    )


def next_slice_id(booking: Booking) -> str:
    """The slice after ``booking``: the same offering, profile and length, starting when it ends."""
    length = int((booking.ends_at - booking.starts_at).total_seconds())
    return SliceKey(booking.offering_id, booking.profile_id, int(booking.ends_at.timestamp()), length).encode()


# ---- what a purchase starts from ---------------------------------------------------------------


def slice_images(slice_id: str) -> list[str]:
    """The images a renter may pick for this slice: the offering's allowed ones, else its cloud's public
    ones (scheduling.hooks.public_images); [] when unknown (a malformed id, or nothing listed)."""
    try:
        key = decode_slice_id(slice_id)
    except DomainError:
        return []
    offering = Offering.objects.filter(pk=key.offering_id).select_related("cloud").first()
    if offering is None:
        return []
    return list(offering.allowed_images or []) or list(hooks.public_images(offering) or [])


@dataclass(frozen=True)
class PurchaseDefaults:
    image: str | None  # the renter's default image, when this offering has it (None: the offering's own)
    ssh_cidrs: list[str]  # the renter's default SSH source ranges ([]: none set)


def purchase_defaults(user: User, images: Sequence[str]) -> PurchaseDefaults:
    """What a purchase takes when the renter leaves image or SSH ranges out, from their settings: the
    same for the portal's buy form and the API's request."""
    mine = renter_selectors.renter_defaults(user)
    usable = bool(mine.image) and (mine.image in images or not images)
    return PurchaseDefaults(image=mine.image if usable else None, ssh_cidrs=list(mine.ssh_cidrs))
