"""What a user can be told, and who: the catalogue of notification kinds (issue 15 item 4)."""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    SLICE_STARTING = "slice_starting", "Slice starting (its server is being prepared)"
    SERVER_READY = "server_ready", "Server ready (with the command to connect)"
    PREEMPTION_NOTICE = "preemption_notice", "Preemption notice (with its deadline)"
    SLICE_ENDED = "slice_ended", "Slice ended (with its charge)"
    BID_OUTBID = "bid_outbid", "Bid outbid"
    BID_WON = "bid_won", "Auction won"
    BID_REFUSED = "bid_refused", "Winning bid refused at clearing (with the reason)"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    BALANCE_LOW = "balance_low", "Prepaid balance low"
    SPEND_LIMIT_REACHED = "spend_limit_reached", "Monthly spend limit (nearly) reached"
    BOOKING_RECEIVED = "booking_received", "A booking on one of your offerings"
    PAYOUT_PAID = "payout_paid", "Payout made"
    SERVER_FAILED = "server_failed", "A server of one of your offerings failed"
    WEBHOOK_DISABLED = "webhook_disabled", "A webhook endpoint turned off after repeated failures"


# Shown on the preferences page only to owners (a renter never receives them).
OWNER_KINDS = frozenset({Kind.BOOKING_RECEIVED, Kind.PAYOUT_PAID, Kind.SERVER_FAILED})


def kinds_for(*, is_owner: bool) -> list[Kind]:
    return [k for k in Kind if is_owner or k not in OWNER_KINDS]
