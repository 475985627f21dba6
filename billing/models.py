"""Billing: a double-entry ledger, Stripe records, booking charges and owner payouts.

Money is integer minor units with a 3-letter currency. The ledger is
append-only and every transaction sums to zero per currency; PostgreSQL
enforces both (see migration 0002: a deferred constraint trigger checks the
sum at commit, another trigger refuses UPDATE and DELETE on entries).

Stripe rows (customers, payments, refunds, transfers) are written and
committed *before* the call to Stripe, carry an idempotency key derived from
their own id, and record the outcome afterwards, so a retried task finds its
earlier attempt instead of charging twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.lib import clock
from marketplace.lib.money import CURRENCY_CHOICES, format_minor


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        RENTER_BALANCE = "renter_balance", "Renter balance (prepaid funds available)"
        RENTER_HOLDS = "renter_holds", "Renter holds (funds reserved for bookings)"
        CARD_AUTHORIZATIONS = "card_authorizations", "Card authorizations (card-per-booking holds)"
        OWNER_PAYABLE = "owner_payable", "Owner earnings payable"
        PLATFORM_FEES = "platform_fees", "Platform fees"
        PLATFORM_ADJUSTMENTS = "platform_adjustments", "Platform adjustments (goodwill credits)"
        STRIPE_CLEARING = "stripe_clearing", "Stripe clearing"
        DISPUTES = "disputes", "Disputed payments"

    # Accounts whose natural balance is a credit (what we owe): shown as -SUM(amount).
    CREDIT_NORMAL = {
        Kind.RENTER_BALANCE,
        Kind.RENTER_HOLDS,
        Kind.OWNER_PAYABLE,
        Kind.PLATFORM_FEES,
    }
    USER_KINDS = {Kind.RENTER_BALANCE, Kind.RENTER_HOLDS, Kind.CARD_AUTHORIZATIONS, Kind.OWNER_PAYABLE}

    kind = models.CharField(max_length=30, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["kind", "user_id", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "user", "currency"],
                condition=Q(user__isnull=False),
                name="billing_ledgeraccount_unique_user_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency"],
                condition=Q(user__isnull=True),
                name="billing_ledgeraccount_unique_platform_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["renter_balance", "renter_holds", "card_authorizations", "owner_payable"],
                    user__isnull=False,
                )
                | Q(
                    kind__in=["platform_fees", "platform_adjustments", "stripe_clearing", "disputes"],
                    user__isnull=True,
                ),
                name="billing_ledgeraccount_kind_user",
                violation_error_message="Renter and owner accounts belong to a user; platform accounts to nobody.",
            ),
        ]

    def __str__(self) -> str:
        who = f" {self.user}" if self.user_id else ""
        return f"{self.get_kind_display()}{who} [{self.currency}]"

    @property
    def credit_normal(self) -> bool:
        return self.kind in self.CREDIT_NORMAL


class LedgerTransaction(models.Model):
    """One balanced movement of money. Never updated or deleted (a trigger refuses it)."""

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        HOLD = "hold", "Booking hold"
        HOLD_RELEASE = "hold_release", "Hold released"
        CARD_AUTHORIZATION = "card_authorization", "Card authorized for a booking"
        CHARGE = "charge", "Booking charge"
        SHORT_NOTICE_CREDIT = "short_notice_credit", "Short-notice preemption credit"
        REFUND = "refund", "Refund"
        PAYOUT = "payout", "Owner payout"
        PAYOUT_REVERSAL = "payout_reversal", "Owner payout reversed"
        DISPUTE = "dispute", "Dispute"
        DISPUTE_WON = "dispute_won", "Dispute won"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    memo = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    booking_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    offering_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Staff status alone moves no money (issue 14 item 4): each money operation has its permission.
        permissions = [("post_adjustment", "Can post a manual ledger adjustment")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} ({self.idempotency_key})"


class LedgerEntry(models.Model):
    """One side of a transaction: positive amounts debit the account, negative ones credit it."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["transaction_id", "id"]
        indexes = [models.Index(fields=["account", "transaction"], name="billing_entry_account_txn")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="billing_ledgerentry_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.account}: {format_minor(self.amount, self.currency)}"


class StripeCustomer(models.Model):
    """The renter's Stripe customer. Row first (no id), then the call, then the id."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stripe_customer")
    stripe_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.stripe_id or f"(pending customer of {self.user})"

    @property
    def idempotency_key(self) -> str:
        return f"customer-{self.pk}-create-v1"


class PaymentMethod(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_methods")
    stripe_id = models.CharField(max_length=100, unique=True)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_default=True, removed_at__isnull=True),
                name="billing_paymentmethod_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class Payment(models.Model):
    """Money coming in through a PaymentIntent: a prepaid top-up, or a card charge for one booking."""

    class Purpose(models.TextChoices):
        TOPUP = "topup", "Top-up"
        BOOKING = "booking", "Booking (card per booking)"

    class Status(models.TextChoices):
        CREATED = "created", "Created (not yet sent to Stripe)"
        PENDING = "pending", "Sent to Stripe"
        REQUIRES_CAPTURE = "requires_capture", "Authorized (hold on card)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    amount = models.BigIntegerField(help_text="Requested (authorized) amount, minor units.")
    captured_amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True, on_delete=models.PROTECT)
    booking_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured_amount__isnull=True)
                | (Q(captured_amount__gte=0) & Q(captured_amount__lte=models.F("amount"))),
                name="billing_payment_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["created", "pending", "requires_capture", "succeeded", "failed", "canceled"]),
                name="billing_payment_status_valid",
            ),
            models.UniqueConstraint(
                fields=["booking_id"],
                condition=Q(purpose="booking") & ~Q(status__in=["failed", "canceled"]),
                name="billing_payment_one_live_per_booking",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {format_minor(self.amount, self.currency)} ({self.status})"


class Refund(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reason = models.CharField(max_length=500)
    idempotency_key = models.CharField(max_length=200, unique=True)
    stripe_refund_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    failure_message = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="billing_refund_amount_positive")]
        permissions = [("refund_payment", "Can refund a payment to the card")]

    def __str__(self) -> str:
        return f"refund {format_minor(self.amount, self.currency)} of payment #{self.payment_id}"


class Dispute(models.Model):
    stripe_id = models.CharField(max_length=100, unique=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=40)
    reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"dispute {self.stripe_id} ({self.status})"


class WebhookEvent(models.Model):
    """A Stripe event, stored on receipt (before processing) so it is never lost and never processed twice."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (will be retried)"
        IGNORED = "ignored", "Ignored (type not handled)"

    stripe_event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=clock.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id} ({self.status})"


class ConnectedAccount(models.Model):
    """An owner's Stripe Connect (Express) account that receives payouts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="connected_account")
    stripe_account_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    details_submitted = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.stripe_account_id or f"(pending account of {self.user})"

    @property
    def idempotency_key(self) -> str:
        return f"connect-{self.pk}-create-v1"


class Payout(models.Model):
    """Owner earnings moved to their connected account (a Stripe transfer)."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PENDING = "pending", "Sent to Stripe"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        REVERSED = "reversed", "Reversed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        ON_DEMAND = "on_demand", "On demand"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    stripe_transfer_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED, db_index=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payout_amount_positive"),
            # At most one payout in flight per owner and currency: no double transfer of the same earnings.
            models.UniqueConstraint(
                fields=["owner", "currency"],
                condition=Q(status__in=["created", "pending"]),
                name="billing_payout_one_in_flight",
            ),
        ]
        permissions = [("payout_on_demand", "Can pay out an owner's earnings on demand")]

    def __str__(self) -> str:
        return f"payout {format_minor(self.amount, self.currency)} to {self.owner} ({self.status})"


class OfferingBillingPolicy(models.Model):
    """Owner's promise when preempting: a renter given less notice than promised is credited at this multiple."""

    offering = models.OneToOneField("owners.Offering", on_delete=models.CASCADE, related_name="billing_policy")
    short_notice_credit_percent = models.PositiveIntegerField(
        default=200, help_text="Credit per second of missing notice, as a percentage of the slice rate (200 = 2×)."
    )
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "offering billing policies"

    def __str__(self) -> str:
        return f"{self.offering}: short notice credited at {self.short_notice_credit_percent}%"


class BookingCharge(models.Model):
    """Billing's view of one booking: its hold, its final charge and fee split, and any credit.

    ``booking_id`` names the engine's booking; billing reads the engine, never the other way round.
    """

    class State(models.TextChoices):
        HELD = "held", "Funds held"
        AUTHORIZING = "authorizing", "Authorizing card"
        SETTLING = "settling", "Settling (charge computed, capture in progress)"
        SETTLED = "settled", "Charged"
        RELEASED = "released", "Hold released, nothing charged"
        FAILED = "failed", "Payment failed"

    booking_id = models.BigIntegerField(unique=True)
    renter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="booking_charges")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="booking_earnings")
    offering_id = models.BigIntegerField(db_index=True)
    mode = models.CharField(max_length=20)  # prepaid or card_per_booking, fixed when the hold is placed
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    price = models.BigIntegerField(help_text="Price of the whole slice, minor units.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    release_charge = models.CharField(max_length=10, default="prorated")
    promised_notice_seconds = models.PositiveIntegerField(
        default=0, help_text="Preemption notice the offering promised when the booking was confirmed."
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.HELD, db_index=True)
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="booking_charge"
    )
    used_seconds = models.BigIntegerField(null=True, blank=True)
    charged_amount = models.BigIntegerField(null=True, blank=True)
    fee_amount = models.BigIntegerField(null=True, blank=True)
    credit_amount = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=20, blank=True, help_text="completed, released, preempted, failed, …")
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="billing_bookingcharge_price_nonnegative"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="billing_bookingcharge_interval"
            ),
            models.CheckConstraint(
                condition=Q(charged_amount__isnull=True)
                | (Q(charged_amount__gte=0) & Q(charged_amount__lte=models.F("price"))),
                name="billing_bookingcharge_charge_within_price",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["held", "authorizing", "settling", "settled", "released", "failed"]),
                name="billing_bookingcharge_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"booking #{self.booking_id}: {self.state}"

    @property
    def slice_seconds(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds())


class MoneyOperationRequest(models.Model):
    """A staff money operation above BILLING_APPROVAL_THRESHOLD, waiting for a second staff member.

    The first staff member's request records what would run (``params``); nothing is posted until a
    different staff member with the same permission approves it, and the operation then runs as
    the approver. Both steps are audited (billing.money_operation.*).
    """

    class Operation(models.TextChoices):
        ADJUSTMENT = "adjustment", "Manual ledger adjustment"
        REFUND = "refund", "Refund to card"
        PAYOUT = "payout", "Payout on demand"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a second staff member"
        APPROVED = "approved", "Approved, being carried out"
        EXECUTED = "executed", "Approved and carried out"
        FAILED = "failed", "Approved, but the operation was refused"
        REJECTED = "rejected", "Rejected"

    operation = models.CharField(max_length=20, choices=Operation.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    amount = models.BigIntegerField(help_text="Minor units; a debit's size for adjustments.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    params = models.JSONField(default=dict)
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=clock.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)  # a double-submitted form asks once
    result = models.CharField(max_length=100, blank=True, help_text="What the approved operation made.")
    failure_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_moneyoperationrequest_amount_positive"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "approved", "executed", "failed", "rejected"]),
                name="billing_moneyoperationrequest_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(operation__in=["adjustment", "refund", "payout"]),
                name="billing_moneyoperationrequest_operation_valid",
            ),
            # Four eyes: the one who asked never decides (also refused by the service, with a message).
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="billing_moneyoperationrequest_second_staff",
            ),
            models.CheckConstraint(
                condition=Q(state="pending", decided_by__isnull=True)
                | Q(~Q(state="pending"), decided_by__isnull=False),
                name="billing_moneyoperationrequest_decided_when_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {format_minor(self.amount, self.currency)} ({self.state})"
