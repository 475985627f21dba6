"""Auction clearing: serving the bids of rounds whose bidding has closed.

Rules enforced here: per offering, bids are served by price per resource-second, then renter
priority, then arrival, while capacity allows; each round pays as bid or a uniform price (its
highest losing bid, at least the reserve). With a funds check registered every would-be winner is
asked first (_ClearingFunds states how); a refused one ends rejected. Losers end outbid and are
told. Safe to run twice or from two workers at once (SKIP LOCKED, only open rounds and requested
bids change).

Lock order, to avoid deadlocks: auction round(s) -> booking(s) -> offering.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import IntegrityError, OperationalError, connection, transaction

from accounts.models import User
from audit import context as audit_context
from audit.services import Event, record_events
from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from owners.models import Offering, SliceProfile
from scheduling import hooks
from scheduling.models import CLAIMING_STATES, AuctionRound, Booking, BookingState
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.state import is_capacity_violation
from scheduling.slices import RESOURCES, Timeline, resource_weight

log = logging.getLogger(__name__)
S = BookingState


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


class Bid(NamedTuple):
    """A bid as clearing reads it (_BIDS_SQL, same order): a requested auction booking."""

    id: int
    renter_id: int
    round_id: int
    amount: int  # per grid unit, minor units
    sequence: int  # arrival order of its last change
    priority: int  # the renter's priority tier (0 without settings)
    vcpus: int
    ram_mib: int
    disk_gb: int
    bandwidth_mbps: int
    offering_id: int

    def need(self) -> tuple[int, int, int, int]:
        """What the bid claims of each resource (RESOURCES order)."""
        return (self.vcpus, self.ram_mib, self.disk_gb, self.bandwidth_mbps)


_BIDS_SQL = """
SELECT b.id, b.renter_id, b.auction_round_id, b.bid_amount, b.bid_sequence, coalesce(rs.priority_tier, 0),
       b.vcpus, b.ram_mib, b.disk_gb, b.bandwidth_mbps, b.offering_id
FROM scheduling_booking b LEFT JOIN renters_rentersettings rs ON rs.user_id = b.renter_id
WHERE b.auction_round_id = ANY(%s) AND b.state = 'requested'
"""
OUTBID_REASON = "Outbid: other bids took the capacity of this slice."  # the reason _OUTBID_SQL writes
_OUTBID_SQL = """
UPDATE scheduling_booking SET state = 'outbid', updated_at = %s,
       reason = 'Outbid: other bids took the capacity of this slice.'
WHERE id = ANY(%s) AND state = 'requested'
"""
# The claiming states spelled from the Python constant (the same text as the partial index's predicate).
_CLAIMS_SQL = f"""
SELECT offering_id, starts_at, ends_at, vcpus, ram_mib, disk_gb, bandwidth_mbps FROM scheduling_booking
WHERE offering_id = ANY(%s) AND state IN ({", ".join(f"'{s}'" for s in CLAIMING_STATES)})
  AND tstzrange(starts_at, ends_at) && tstzrange(%s, %s)
"""  # noqa: S608


def _allocate(
    group: list[Bid], offering: Offering, claims: Any, by_round: dict[int, AuctionRound], skip: Any
) -> tuple[list[Bid], list[Bid]]:
    """One greedy pass over an offering's bids in rank order: (winners, losers); bids in ``skip`` take part not."""
    timeline = Timeline.build(offering.sellable_capacity(), claims)
    won: list[Bid] = []
    lost: list[Bid] = []
    for b in group:
        if b.id in skip:
            continue
        need = b.need()
        r = by_round[b.round_id]  # a bid's period is its round's
        if timeline.fits(r.starts_at, r.ends_at, need):
            timeline.claim(r.starts_at, r.ends_at, need)
            won.append(b)
        else:
            lost.append(b)
    return won, lost


def _uniform_price(r: AuctionRound, lost: list[Bid]) -> int:
    """The uniform price of a round: its highest losing bid, at least the reserve."""
    return max(max((b.amount for b in lost), default=r.reserve_price), r.reserve_price)


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
        self.refused: dict[int, tuple[Bid, str]] = {}  # bid id -> (bid row, the check's reason)
        self.committed: dict[int, int] = defaultdict(int)  # renter -> wins approved on earlier offerings
        self.renters: dict[int, User] = {}
        self.profiles: dict[int, SliceProfile] = {}

    def _load(self, group: list[Bid]) -> None:
        renter_ids = {b.renter_id for b in group} - set(self.renters)
        profile_ids = {self.by_round[b.round_id].profile_id for b in group} - set(self.profiles)
        self.renters.update(User.objects.in_bulk(renter_ids))
        self.profiles.update(SliceProfile.objects.in_bulk(profile_ids))

    def allocate(self, group: list[Bid], offering: Offering, claims: Any) -> tuple[list[Bid], list[Bid]]:
        self._load(group)
        approved: dict[int, int] = {}  # bid id -> the amount its check passed at
        while True:
            won, lost = _allocate(group, offering, claims, self.by_round, self.refused)
            lost_of: dict[int, list[Bid]] = defaultdict(list)
            for b in lost:
                lost_of[b.round_id].append(b)
            in_offering: dict[int, int] = defaultdict(int)
            for b in won:
                r = self.by_round[b.round_id]
                unit = min(_uniform_price(r, lost_of[r.pk]), b.amount) if r.clearing_rule == "uniform" else b.amount
                amount = unit * _units(r, offering)
                asked = self.committed[b.renter_id] + in_offering[b.renter_id] + amount
                if asked > approved.get(b.id, -1):
                    try:
                        hooks.funds_check(
                            self.renters[b.renter_id], offering, self.profiles[r.profile_id], asked, r.currency
                        )
                    except DomainError as exc:
                        self.refused[b.id] = (b, exc.message)
                        break
                    approved[b.id] = asked
                in_offering[b.renter_id] += amount
            else:
                for renter_id, amount in in_offering.items():
                    self.committed[renter_id] += amount
                return won, lost


def _refusal_reason(reason: str) -> str:
    return f"Refused at clearing: {reason} The capacity went to the next bid."[:300]


def _refusal_events(refused: dict[int, tuple[Bid, str]], by_round: dict[int, AuctionRound]) -> list[Event]:
    """One audit record per refused win (requested -> rejected), as _move would write it."""
    return [
        Event(
            "booking.rejected",
            Booking(pk=bid_id, state=S.REJECTED),  # names the booking as it now is; not saved
            {
                "from": "requested",
                "to": "rejected",
                "reason": _refusal_reason(reason),
                "round": b.round_id,
                "bid": b.amount,
                "currency": by_round[b.round_id].currency,
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
            bids = list(map(Bid._make, cur.fetchall()))
            cur.execute(_CLAIMS_SQL, [oids, min(r.starts_at for r in rounds), max(r.ends_at for r in rounds)])
            claim_rows = cur.fetchall()
        claims: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in claim_rows:
            claims[row[0]].append(dict(zip(("starts_at", "ends_at", *RESOURCES), row[1:], strict=True)))
        bids_of: dict[int, list[Bid]] = defaultdict(list)
        for b in bids:
            bids_of[b.offering_id].append(b)
        # Price per resource-second of a bid = amount × units / (share of the offering × seconds);
        # within a round only the amount varies, so one factor per round.
        factor: dict[int, float] = {}
        first_bid: dict[int, Bid] = {}
        for b in bids:
            first_bid.setdefault(b.round_id, b)
        for r in rounds:
            o = offerings[r.offering_id]
            seconds = (r.ends_at - r.starts_at).total_seconds()
            sample = first_bid.get(r.pk)
            shape = dict(zip(RESOURCES, sample.need(), strict=True)) if sample else None
            weight = resource_weight(shape, o.sellable_capacity()) if shape else 1.0
            factor[r.pk] = (seconds / o.grid_seconds) / (weight * seconds)
        winners: list[Bid] = []
        losers: dict[int, list[Bid]] = defaultdict(list)
        # Without a funds check (the engine alone, the benchmark) each offering is one greedy pass.
        funds = _ClearingFunds(by_round, offerings) if hooks.receivers("funds_check") else None
        for oid in sorted(bids_of):
            group = bids_of[oid]
            group.sort(key=lambda b: (-b.amount * factor[b.round_id], -b.priority, b.sequence, b.id))
            if funds is None:
                served, unserved = _allocate(group, offerings[oid], claims.get(oid, ()), by_round, {})
            else:
                served, unserved = funds.allocate(group, offerings[oid], claims.get(oid, ()))
            winners.extend(served)
            for b in unserved:
                losers[b.round_id].append(b)
        refused = funds.refused if funds is not None else {}
        uniform: dict[int, int] = {}  # round id -> its uniform price
        for r in rounds:
            if r.clearing_rule == "uniform":
                r.clearing_price = uniform[r.pk] = _uniform_price(r, losers[r.pk])
        win_ids, win_prices, win_totals = [], [], []
        round_winners: dict[int, list[list[int]]] = defaultdict(list)
        for b in winners:
            r = by_round[b.round_id]
            price = min(uniform[r.pk], b.amount) if r.clearing_rule == "uniform" else b.amount
            units = int((r.ends_at - r.starts_at).total_seconds()) // offerings[b.offering_id].grid_seconds
            win_ids.append(b.id)
            win_prices.append(price)
            win_totals.append(price * units)
            round_winners[r.pk].append([b.id, price])
        lose_ids = [b.id for group in losers.values() for b in group]
        refused_of: dict[int, list[list[Any]]] = defaultdict(list)
        for bid_id, (b, reason) in refused.items():
            refused_of[b.round_id].append([bid_id, reason])
        events: list[Event] = []
        history: list[PricePoint] = []
        for r in rounds:
            won = round_winners[r.pk]
            if r.clearing_rule != "uniform":
                r.clearing_price = min((p for _, p in won), default=None)
            r.winners_count, r.bids_count = len(won), len(won) + len(losers[r.pk]) + len(refused_of[r.pk])
            # The round's clearing price (uniform: the one price; otherwise the lowest winning bid).
            if won and r.clearing_price is not None:
                history.append(PricePoint(r.offering_id, r.profile_id, "auction", r.clearing_price, r.currency))
            # One audit record per round, naming every bid's move (requested -> confirmed / outbid).
            events.append(
                Event(
                    "auction.cleared",
                    r,
                    {
                        "rule": r.clearing_rule,
                        "clearing_price": r.clearing_price,
                        "reserve": r.reserve_price,
                        "confirmed": won,
                        "outbid": [b.id for b in losers[r.pk]],
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
                # Losers become outbid in one statement (notifications tells them, from booking_events).
                cur.execute(_OUTBID_SQL, [now, lose_ids])
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
            events.extend(_refusal_events(refused, by_round))
        prices_record(history, at=now)
        # Engine work (a beat task) unless a request or a task said who is acting.
        source = "task" if audit_context.current().source == "system" else None
        record_events(events, source=source, at=now)
        prices = dict(zip(win_ids, win_prices, strict=True))
        totals = dict(zip(win_ids, win_totals, strict=True))
        hooks.booking_events(
            [
                *(
                    hooks.BookingEvent(
                        i,
                        "transition",
                        S.REQUESTED,
                        S.CONFIRMED,
                        now,
                        data={"clearing_price": prices[i], "unit_price": prices[i], "total_price": totals[i]},
                    )
                    for i in win_ids
                ),
                *(
                    hooks.BookingEvent(i, "transition", S.REQUESTED, S.OUTBID, now, reason=OUTBID_REASON)
                    for i in lose_ids
                ),
                *(
                    hooks.BookingEvent(i, "transition", S.REQUESTED, S.REJECTED, now, reason=_refusal_reason(reason))
                    for i, (_b, reason) in refused.items()
                ),
            ]
        )
        for booking_id in win_ids:
            hooks.fire_on_commit("on_booking_confirmed", booking_id)
            hooks.fire_on_commit("on_bid_won", booking_id, prices[booking_id])
        for booking_id in [*lose_ids, *refused]:
            hooks.fire_on_commit("on_bid_lost", booking_id)
        result.rounds, result.bids, result.winners = len(rounds), len(bids), len(win_ids)
    return result
