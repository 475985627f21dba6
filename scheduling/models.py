"""The market: bookings (requests, bids and capacity claims), auction rounds, quotes, price history.

A Booking is the one record of a renter's request for a slice, whatever its
pricing model: it is created in ``requested`` (the request queue: its id is the
arrival sequence), then moves through the state machine in
scheduling.services. A Booking in a *claiming* state holds capacity on its
offering for [starts_at, ends_at); the database refuses any claim that would
take the offering over its capacity (constraint trigger
``scheduling_booking_capacity``, see scheduling/sql/booking_capacity.sql).

An auction bid is a Booking in ``requested`` with ``auction_round`` and
``bid_amount`` set: clearing turns it ``confirmed`` (won) or ``outbid`` (lost);
withdrawing it makes it ``released``. One table gives the API one id space.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from marketplace.lib import clock, crypto
from marketplace.lib.money import CURRENCY_CHOICES, format_minor
from owners.models import Offering, SliceProfile


def user_data_context(renter_id: int | None) -> str:
    """What a booking's user-data ciphertext is bound to (marketplace.lib.crypto's context): its renter."""
    return f"scheduling.booking.user_data:renter={renter_id}"


class BookingState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    OUTBID = "outbid", "Outbid"
    PROVISIONING = "provisioning", "Provisioning"
    RUNNING = "running", "Running"
    NOTICE = "notice", "Preemption notice"
    COMPLETED = "completed", "Completed"
    RELEASED = "released", "Released"
    PREEMPTED = "preempted", "Preempted"
    FAILED = "failed", "Failed"


# What a renter's server may carry (scheduling.services.access checks it): cloud-init user-data up to
# this many bytes of UTF-8 (Nova takes 64 KiB once base64-encoded), and this many SSH source ranges.
USER_DATA_MAX_BYTES = 16384
SSH_CIDRS_MAX = 10

# States that hold capacity on the offering. The SQL files in scheduling/sql/ ({{ CLAIMING_STATES }}) are
# rendered from this tuple; changing it needs a migration that runs new frozen copies of them.
CLAIMING_STATES = (
    BookingState.CONFIRMED,
    BookingState.PROVISIONING,
    BookingState.RUNNING,
    BookingState.NOTICE,
)
FINAL_STATES = (
    BookingState.REJECTED,
    BookingState.OUTBID,
    BookingState.COMPLETED,
    BookingState.RELEASED,
    BookingState.PREEMPTED,
    BookingState.FAILED,
)


class PricingModel(models.TextChoices):
    FIXED = "fixed", "Fixed price"
    AUCTION = "auction", "Auction"
    DYNAMIC = "dynamic", "Dynamic price"


class AuctionRound(models.Model):
    """Sealed bidding on one slice window (offering, profile, start, length); created on the first bid."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared"

    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="auction_rounds")
    profile = models.ForeignKey(SliceProfile, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    closes_at = models.DateTimeField(help_text="Bidding closes; clearing runs at or after this instant.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reserve_price = models.BigIntegerField(help_text="Lowest acceptable bid per grid unit (minor units).")
    clearing_rule = models.CharField(max_length=12)
    clearing_price = models.BigIntegerField(
        null=True, blank=True, help_text="Uniform price per grid unit, or the lowest winning bid when pay-as-bid."
    )
    bids_count = models.PositiveIntegerField(default=0)
    winners_count = models.PositiveIntegerField(default=0)
    cleared_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["closes_at", "id"]
        indexes = [models.Index(fields=["state", "closes_at"], name="scheduling_round_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["offering", "profile", "starts_at", "ends_at"],
                name="scheduling_auctionround_unique_window",
                violation_error_message="There is already an auction round for this slice.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["open", "cleared"]), name="scheduling_auctionround_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")) & Q(closes_at__lte=F("starts_at")),
                name="scheduling_auctionround_times",
                violation_error_message="A round must close no later than its slice starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"round {self.pk} on {self.offering_id}/{self.profile_id} at {self.starts_at:%Y-%m-%d %H:%M:%S}"


class Quote(models.Model):
    """A dynamic price promised to one renter for one slice until ``expires_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    renter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotes")
    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(SliceProfile, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    unit_price = models.BigIntegerField()
    units = models.PositiveIntegerField()
    total_price = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    utilisation = models.FloatField(help_text="Peak share of capacity in use over the slice, 0-1.")
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="scheduling_quote_expiry")]
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0) & Q(total_price__gte=0), name="scheduling_quote_price_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"quote {self.pk}"


class PriceHistory(models.Model):
    """The prices the market served, per offering, profile and source: a point each time one changed."""

    class Source(models.TextChoices):
        FIXED = "fixed", "Fixed price"
        DYNAMIC = "dynamic", "Dynamic quote"
        AUCTION = "auction", "Auction clearing"

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(SliceProfile, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=clock.now)
    unit_price = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    utilisation = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)

    class Meta:
        verbose_name_plural = "price history"
        ordering = ["-at", "-id"]
        # A series' latest point (services.prices) and an offering's points over a range, by time.
        indexes = [models.Index(fields=["offering", "profile", "source", "at"], name="scheduling_price_series")]

    def __str__(self) -> str:
        return f"{self.offering_id}/{self.profile_id} {format_minor(self.unit_price, self.currency)} ({self.source})"


class Booking(models.Model):
    # Foreign keys without their own single-column index where a composite index below starts with
    # the same column (renter, offering, auction_round) or lookups are rare (profile): every state
    # change rewrites index entries, so fewer indexes is faster booking and clearing.
    renter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="bookings", db_index=False)
    profile = models.ForeignKey(SliceProfile, on_delete=models.PROTECT, related_name="+", db_index=False)
    pricing_model = models.CharField(max_length=10, choices=PricingModel.choices)
    state = models.CharField(max_length=16, choices=BookingState.choices, default=BookingState.REQUESTED)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Resources copied from the profile when requested: the claim does not move if the profile changes.
    vcpus = models.PositiveIntegerField()
    ram_mib = models.PositiveIntegerField()
    disk_gb = models.PositiveIntegerField(default=0)
    bandwidth_mbps = models.PositiveIntegerField(default=0)
    image = models.CharField(max_length=200, blank=True)
    # What the renter's server carries besides their SSH key: cloud-init user-data (encrypted at rest with
    # marketplace.lib.crypto, like a cloud's credential; never shown to the owner, in the admin, the model
    # history or an audit event) and the source ranges allowed to reach SSH (nothing else is let in).
    user_data_encrypted = models.TextField(blank=True, editable=False)
    ssh_cidrs = ArrayField(
        models.CharField(max_length=49),
        default=list,
        blank=True,
        help_text="Source addresses (CIDR) allowed to reach SSH on the server; empty: none.",
    )
    grid_seconds = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    unit_price = models.BigIntegerField(null=True, blank=True, help_text="Price per grid unit (minor units).")
    total_price = models.BigIntegerField(null=True, blank=True, help_text="unit price × grid units (minor units).")
    price_schedule = models.JSONField(
        null=True,
        blank=True,
        help_text="Set when the profile changed: the parts of the booking at their own prices "
        "[{from, to, unit_price, amount}]; empty: one price for the whole booking.",
    )
    quote = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    auction_round = models.ForeignKey(
        AuctionRound, null=True, blank=True, on_delete=models.PROTECT, related_name="bids", db_index=False
    )
    bid_amount = models.BigIntegerField(null=True, blank=True, help_text="Bid per grid unit (minor units).")
    bid_sequence = models.BigIntegerField(null=True, blank=True, help_text="Arrival order of the bid's last change.")
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was rejected, outbid, failed or ended.")
    preempt_deadline = models.DateTimeField(null=True, blank=True)
    # Facts kept on the booking (not read back from the audit log): when preemption notice was given
    # and how many seconds it gave; and its latest profile change while it can still be undone.
    notice_given_at = models.DateTimeField(null=True, blank=True, help_text="When preemption notice was given.")
    notice_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds of notice given.")
    profile_change = models.JSONField(
        null=True,
        blank=True,
        help_text="The latest profile change, until undone: {event, from, to, price_schedule_before} "
        "(event: its audit record; from/to: profile, resources and prices).",
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "starts_at"], name="scheduling_booking_state_start"),
            models.Index(fields=["state", "ends_at"], name="scheduling_booking_state_end"),
            models.Index(
                fields=["state", "preempt_deadline"],
                name="scheduling_booking_notice_due",
                condition=Q(state="notice"),
            ),
            models.Index(fields=["renter", "-id"], name="scheduling_booking_renter"),
            models.Index(fields=["offering", "starts_at"], name="scheduling_booking_offering"),
            models.Index(
                fields=["auction_round", "state"],
                name="scheduling_booking_round",
                condition=Q(auction_round__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in BookingState]), name="scheduling_booking_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(pricing_model__in=[m.value for m in PricingModel]),
                name="scheduling_booking_pricing_model_valid",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="scheduling_booking_period_positive",
                violation_error_message="A booking must end after it starts.",
            ),
            models.CheckConstraint(
                condition=~Q(pricing_model="auction") | (Q(auction_round__isnull=False) & Q(bid_amount__gte=0)),
                name="scheduling_booking_bid_complete",
                violation_error_message="An auction booking needs its round and a bid.",
            ),
            models.CheckConstraint(
                condition=~Q(state="notice") | Q(preempt_deadline__isnull=False),
                name="scheduling_booking_notice_has_deadline",
                violation_error_message="A preemption notice needs a deadline.",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="scheduling_booking_price_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(ssh_cidrs__len__lte=SSH_CIDRS_MAX),
                name="scheduling_booking_ssh_cidrs_bounded",
                violation_error_message=f"At most {SSH_CIDRS_MAX} SSH source ranges.",
            ),
            models.UniqueConstraint(
                fields=["auction_round", "renter"],
                condition=Q(state="requested", auction_round__isnull=False),
                name="scheduling_booking_one_live_bid",
                violation_error_message="You already have a bid on this slice; raise it instead.",
            ),
        ]

    def __str__(self) -> str:
        return f"booking {self.pk} ({self.state})"

    @property
    def has_user_data(self) -> bool:
        return bool(self.user_data_encrypted)

    def reveal_user_data(self) -> str | None:
        """Plaintext for the cloud driver (provisioning.access) only; never render or log it. The
        ciphertext is bound to the renter: copied onto another renter's booking it does not decrypt."""
        if not self.user_data_encrypted:
            return None
        return crypto.decrypt(self.user_data_encrypted, context=user_data_context(self.renter_id))

    @property
    def is_claiming(self) -> bool:
        return self.state in CLAIMING_STATES

    @property
    def is_bid(self) -> bool:
        return self.auction_round_id is not None

    @property
    def duration_seconds(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds())

    def resources(self) -> dict[str, int]:
        return {
            "vcpus": self.vcpus,
            "ram_mib": self.ram_mib,
            "disk_gb": self.disk_gb,
            "bandwidth_mbps": self.bandwidth_mbps,
        }


class BookingFeed(models.Model):
    """A user's secret calendar-feed address (the iCal feed of their bookings, and of the bookings on
    their offerings): calendar apps cannot log in, so the URL carries a random token. Only its SHA-256
    is stored (the URL is shown once, when made); rotating replaces it, and the old URL stops at once."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="booking_feed")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    rotated_at = models.DateTimeField(default=clock.now, help_text="When the current address was made.")

    def __str__(self) -> str:
        return f"booking feed of {self.user_id}"
