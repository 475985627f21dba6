"""Auction bids: placing a sealed bid on a slice's round, or raising one's own.

Rules enforced here: a bid is for the whole slice, at least the reserve price, and only while
bidding is open (until ``bidding_closes_seconds`` before the start); the round is created by the
first bid; a renter has one live bid per round and may only raise it; the funds check is asked for
the whole amount. Every bid change takes a fresh arrival number (ties at clearing go to the
earlier one).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib.errors import ValidationFailed
from marketplace.lib.money import MoneyError, to_minor
from scheduling import hooks
from scheduling.errors import BiddingClosed
from scheduling.models import AuctionRound, Booking, BookingState, PricingModel
from scheduling.services.resolve import _Request, _request_fields
from scheduling.services.state import _money

S = BookingState


def _next_bid_sequence() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('scheduling_bid_arrival_seq')")
        return int(cur.fetchone()[0])


def _parse_bid(bid: Any, currency: str) -> int:
    try:
        amount = to_minor(bid if isinstance(bid, (str, int, Decimal)) else str(bid), currency)
    except MoneyError as exc:
        raise ValidationFailed({"bid": [str(exc).capitalize() + "."]})
    if amount <= 0:
        raise ValidationFailed({"bid": ["A bid must be greater than zero."]})
    return amount


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
            hooks.booking_event(
                mine.pk, "bid_raised", S.REQUESTED, S.REQUESTED, now, data={"bid": amount, "previous": before}
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
        hooks.booking_event(booking.pk, "bid_placed", "", S.REQUESTED, now, data={"bid": amount})
    return booking
