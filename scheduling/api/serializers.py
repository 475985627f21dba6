"""Shapes of API input and output. Input serializers check shape only; the services check the rules."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.lib.api import BoundedDateTimeField, range_errors
from marketplace.lib.durations import HELP as LENGTH_HELP
from marketplace.lib.durations import parse_length
from marketplace.lib.inputs import BIGINT_MAX, INT_MAX
from marketplace.lib.money import CURRENCY_CHOICES, MoneyError, exponent, to_minor
from scheduling.models import SSH_CIDRS_MAX, USER_DATA_MAX_BYTES, Booking, PriceHistory, PricingModel, Quote
from scheduling.selectors import ORDERINGS, Slice
from scheduling.services.booking import CostPreview
from scheduling.slices import SliceKey


@functools.lru_cache(maxsize=8192)  # pure; a search page formats the same few prices over and over
def major(amount: int | None, currency: str) -> str | None:
    """Minor units as a major-unit decimal string ("0.50" for 50 USD cents)."""
    if amount is None:
        return None
    exp = exponent(currency)
    if not exp:
        return str(amount)
    whole, cents = divmod(abs(amount), 10**exp)
    return f"{'-' if amount < 0 else ''}{whole}.{cents:0{exp}d}"


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "example": "15 min"}]})
class LengthField(serializers.Field):
    """A slice length in seconds or in human units ("5 s", "15 min", "1 h"); whole seconds inside."""

    def to_internal_value(self, data: Any) -> int:
        try:
            return parse_length(data if isinstance(data, int) else str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: int) -> int:
        return value


class SliceSearchSerializer(serializers.Serializer):
    cpu = serializers.IntegerField(required=False, min_value=1, max_value=512, help_text="vCPUs needed (at least).")
    ram = serializers.DecimalField(
        required=False,
        max_digits=8,
        decimal_places=3,
        min_value=Decimal("0.125"),
        help_text="RAM needed in GiB (at least).",
    )
    disk = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Disk needed in GB (at least)."
    )
    bandwidth = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Mbit/s needed (at least)."
    )
    profile = serializers.IntegerField(
        required=False, min_value=1, max_value=BIGINT_MAX, help_text="Only this slice profile id."
    )
    offering = serializers.IntegerField(
        required=False, min_value=1, max_value=BIGINT_MAX, help_text="Only this offering id."
    )
    region = serializers.CharField(required=False, max_length=100)
    max_price = serializers.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=4,
        min_value=Decimal(0),
        help_text="Highest price per grid unit, in `currency` (without it: in each slice's own currency).",
    )
    currency = serializers.ChoiceField(
        required=False, choices=CURRENCY_CHOICES, help_text="Only slices priced in this currency."
    )
    start = BoundedDateTimeField(required=False, help_text="Start of the range (default: now).")
    end = BoundedDateTimeField(required=False, help_text="End of the range (default: start + 24 h).")
    duration = LengthField(
        required=False,
        help_text=f"Slice length. {LENGTH_HELP} Default: each offering's shortest slice.",
    )
    ordering = serializers.ChoiceField(required=False, choices=list(ORDERINGS), default="price")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=10000, default=0)
    per_offering = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=20,
        default=3,
        help_text="Slices listed per offering and profile (earliest first).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for key in ("start", "end"):
            value = self.initial_data.get(key)
            if value and attrs.get(key) is not None and attrs[key].tzinfo is None:
                raise serializers.ValidationError({key: "Give a timezone, e.g. 2026-12-01T10:00:00Z."})
        if attrs.get("currency") and attrs.get("max_price") is not None:
            try:
                to_minor(attrs["max_price"], attrs["currency"])
            except MoneyError as exc:
                raise serializers.ValidationError({"max_price": str(exc)}) from exc
        too_long = range_errors(attrs, "start", "end")
        if too_long:
            raise serializers.ValidationError(too_long)
        return attrs


@functools.lru_cache(maxsize=8192)  # pure; slices of a page share their grid-aligned instants
def _iso(value: Any) -> str:
    """A datetime as DRF's JSON encoder writes it (UTC as Z)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def slice_data(s: Slice, shared: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One slice as the API shows it. A page has ~50 slices from ~20 offerings and profiles; pass the
    same ``shared`` dict for a page and each offering/profile's unchanging part is built once."""
    p = s.policy
    common = shared.get(p.pk) if shared is not None else None
    if common is None:
        prof, offering = p.profile, s.offering
        common = {
            "offering": {"id": offering.pk, "name": offering.name, "region": offering.region},
            "profile": {
                "id": prof.pk,
                "name": prof.name,
                "vcpus": prof.vcpus,
                "ram_mib": prof.ram_mib,
                "disk_gb": prof.disk_gb,
                "bandwidth_mbps": prof.bandwidth_mbps,
            },
            "grid_seconds": offering.grid_seconds,
            "pricing_model": p.model,
            "currency": p.currency,
        }
        if shared is not None:
            shared[p.pk] = common
    currency = p.currency
    auction = s.auction
    return {
        "id": s.id,
        "offering": common["offering"],
        "profile": common["profile"],
        "start": _iso(s.starts_at),
        "end": _iso(s.ends_at),
        "duration": s.units * common["grid_seconds"],
        "grid_seconds": common["grid_seconds"],
        "pricing_model": common["pricing_model"],
        "currency": currency,
        "unit_price": major(s.unit_price, currency),
        "total_price": major(s.total_price, currency),
        "price_per_hour": major(s.price_per_hour, currency),
        "utilisation": round(s.utilisation, 4),
        "auction": None
        if auction is None
        else {
            **auction,
            "closes_at": _iso(auction["closes_at"]),
            "reserve_price": major(auction["reserve_price"], currency),
            "your_bid": major(auction["your_bid"], currency),
        },
    }


class _SliceOfferingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    region = serializers.CharField()


class _SliceProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    vcpus = serializers.IntegerField()
    ram_mib = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    bandwidth_mbps = serializers.IntegerField()


class _SliceAuctionSerializer(serializers.Serializer):
    round = serializers.IntegerField(allow_null=True, help_text="Null until the first bid opens the round.")
    state = serializers.CharField()
    closes_at = serializers.DateTimeField()
    reserve_price = serializers.CharField(allow_null=True)
    clearing_rule = serializers.CharField()
    bids = serializers.IntegerField()
    your_bid = serializers.CharField(allow_null=True, help_text="Your bid per grid unit, if you bid.")


class SliceSerializer(serializers.Serializer):
    """One slice for sale. The fields are declared for the schema; ``slice_data`` builds the answer."""

    id = serializers.CharField(help_text="The slice id to request, quote or bid on.")
    offering = _SliceOfferingSerializer()
    profile = _SliceProfileSerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    duration = serializers.IntegerField(help_text="Seconds.")
    grid_seconds = serializers.IntegerField()
    pricing_model = serializers.ChoiceField(choices=PricingModel.choices)
    currency = serializers.CharField()
    unit_price = serializers.CharField(allow_null=True, help_text="Per grid unit, major units.")
    total_price = serializers.CharField(allow_null=True)
    price_per_hour = serializers.CharField(allow_null=True)
    utilisation = serializers.FloatField()
    auction = _SliceAuctionSerializer(allow_null=True, help_text="Auction slices only.")

    def to_representation(self, s: Slice) -> dict[str, Any]:
        return slice_data(s)


class _SearchExplanationSerializer(serializers.Serializer):
    reason = serializers.CharField()
    suggestion = serializers.CharField(allow_null=True)
    params = serializers.DictField(help_text="Query parameter -> the value to search with instead (null: drop it).")


class SlicePageSerializer(serializers.Serializer):
    """A page of the search (output only, for the schema)."""

    count = serializers.IntegerField(allow_null=True, help_text="All slices found; null while there are more pages.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SliceSerializer(many=True)
    explanation = _SearchExplanationSerializer(
        required=False, help_text="When nothing is found: why, and the nearest search that finds something."
    )


class SliceRequestSerializer(serializers.Serializer):
    duration = serializers.IntegerField(
        required=False, max_value=INT_MAX, help_text="Seconds, a multiple of the grid (default: the slice's length)."
    )
    bid = serializers.DecimalField(
        required=False,
        allow_null=True,
        max_digits=14,
        decimal_places=6,
        help_text="Bid per grid unit in the currency's major unit (auction slices only).",
    )
    quote = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="A quote id for a dynamically priced slice."
    )
    image = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="One of the offering's allowed images (default: your default image from your settings when "
        "the offering allows it, else its first); an offering that allows any image runs one of its cloud's "
        "public images, which must be named.",
    )
    user_data = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        max_length=USER_DATA_MAX_BYTES * 4,  # the service counts the limit in UTF-8 bytes
        help_text=f"Cloud-init user-data (text, at most {USER_DATA_MAX_BYTES} bytes of UTF-8). Stored encrypted, "
        "never shown back. Needed when you have no SSH key on file.",
    )
    ssh_cidrs = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        allow_empty=True,
        max_length=SSH_CIDRS_MAX * 4,
        help_text=f"Source addresses or CIDR ranges allowed to reach SSH (at most {SSH_CIDRS_MAX}); "
        "default: your default SSH ranges from your settings, else the address this request comes from.",
    )


class ExtendRequestSerializer(serializers.Serializer):
    duration = serializers.IntegerField(
        min_value=1,
        max_value=INT_MAX,
        help_text="Seconds to add to the booking's end: a positive multiple of the offering's grid. After a 409 "
        "`extension_unavailable`, its `longest_seconds` is the longest extension that can be granted.",
    )


class QuoteRequestSerializer(serializers.Serializer):
    duration = serializers.IntegerField(required=False, max_value=INT_MAX)


class QuoteSerializer(serializers.ModelSerializer):
    unit_price = serializers.SerializerMethodField()
    total_price = serializers.SerializerMethodField()

    class Meta:
        model = Quote
        fields = [
            "id",
            "offering",
            "profile",
            "starts_at",
            "ends_at",
            "unit_price",
            "total_price",
            "currency",
            "utilisation",
            "expires_at",
        ]

    def get_unit_price(self, q: Quote) -> str | None:
        return major(q.unit_price, q.currency)

    def get_total_price(self, q: Quote) -> str | None:
        return major(q.total_price, q.currency)


class BookingSerializer(serializers.ModelSerializer):
    slice_id = serializers.SerializerMethodField()
    offering_name = serializers.CharField(source="offering.name", read_only=True)
    profile_name = serializers.CharField(source="profile.name", read_only=True)
    duration = serializers.IntegerField(source="duration_seconds", read_only=True)
    unit_price = serializers.SerializerMethodField()
    total_price = serializers.SerializerMethodField()
    bid = serializers.SerializerMethodField()
    auction = serializers.SerializerMethodField()
    has_user_data = serializers.BooleanField(read_only=True, help_text="User-data was given (it is never shown).")

    class Meta:
        model = Booking
        fields = [
            "id",
            "state",
            "reason",
            "slice_id",
            "offering",
            "offering_name",
            "profile",
            "profile_name",
            "pricing_model",
            "starts_at",
            "ends_at",
            "duration",
            "image",
            "ssh_cidrs",
            "has_user_data",
            "currency",
            "unit_price",
            "total_price",
            "bid",
            "auction",
            "preempt_deadline",
            "created_at",
            "confirmed_at",
            "ended_at",
        ]

    def get_slice_id(self, b: Booking) -> str:
        return SliceKey(b.offering_id, b.profile_id, int(b.starts_at.timestamp()), b.duration_seconds).encode()

    def get_unit_price(self, b: Booking) -> str | None:
        return major(b.unit_price, b.currency)

    def get_total_price(self, b: Booking) -> str | None:
        return major(b.total_price, b.currency)

    def get_bid(self, b: Booking) -> str | None:
        return major(b.bid_amount, b.currency)

    def get_auction(self, b: Booking) -> dict[str, Any] | None:
        r = b.auction_round
        if r is None:
            return None
        return {
            "round": r.pk,
            "state": r.state,
            "closes_at": r.closes_at,
            "clearing_rule": r.clearing_rule,
            "reserve_price": major(r.reserve_price, r.currency),
        }


class UsageSerializer(serializers.Serializer):
    """The fields are declared for the schema; ``to_representation`` builds the answer."""

    booking = serializers.IntegerField()
    state = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    preempt_deadline = serializers.DateTimeField(allow_null=True)
    elapsed_seconds = serializers.IntegerField()
    currency = serializers.CharField()
    total_price = serializers.CharField(allow_null=True)
    charges_so_far = serializers.CharField(allow_null=True)
    samples = serializers.ListField(child=serializers.DictField(), help_text="Usage readings, oldest first.")
    totals = serializers.DictField(help_text="Totals over the readings (GET /bookings/{id}/server/usage details).")
    seconds_held = serializers.IntegerField(allow_null=True)

    def to_representation(self, u: dict[str, Any]) -> dict[str, Any]:
        cur = u["currency"]
        return {
            "booking": u["booking"],
            "state": u["state"],
            "start": u["starts_at"],
            "end": u["ends_at"],
            "ended_at": u["ended_at"],
            "preempt_deadline": u["preempt_deadline"],
            "elapsed_seconds": u["elapsed_seconds"],
            "currency": cur,
            "total_price": major(u["total_price_minor"], cur),
            "charges_so_far": major(u["charges_so_far_minor"], cur),
            "samples": u["samples"],
            "totals": u.get("totals", {}),
            "seconds_held": u.get("seconds_held"),
        }


class CostSerializer(serializers.Serializer):
    """What an action costs, in major units of ``currency`` (as the confirmation pages show it)."""

    action = serializers.ChoiceField(choices=["buy", "bid", "release", "withdraw", "change_profile", "extend"])
    currency = serializers.CharField()
    charge = serializers.CharField(
        allow_null=True,
        help_text="What the booking is charged in all: for a buy its price (held now, charged for the time used "
        "when it ends), for a bid the most it can cost, for a release what releasing charges (after the release: "
        "the charge billing made). Null when no billing is installed to ask.",
    )
    refund = serializers.CharField(
        allow_null=True, help_text="What returns to the renter of what is held (for a release: held - charge)."
    )
    held = serializers.CharField(help_text="What is held for the booking now (0 before a buy).")
    price_before = serializers.CharField(allow_null=True, help_text="The booking's price before the action.")
    price_after = serializers.CharField(allow_null=True, help_text="The booking's price after the action.")
    note = serializers.CharField(help_text="When and how it is charged, in words.")

    def to_representation(self, p: CostPreview) -> dict[str, Any]:
        cur = p.currency
        return {
            "action": p.action,
            "currency": cur,
            "charge": major(p.charge, cur),
            "refund": major(p.refund, cur),
            "held": major(p.held, cur),
            "price_before": major(p.price_before, cur),
            "price_after": major(p.price_after, cur),
            "note": p.note,
        }


class PreviewSerializer(serializers.Serializer):
    """The answer to ``?preview=1``: what the action would cost; nothing was done."""

    preview = serializers.BooleanField(help_text="Always true: nothing was done.")
    booking = serializers.IntegerField(allow_null=True, help_text="The booking it is about (none before a buy).")
    cost = CostSerializer()

    def to_representation(self, p: CostPreview) -> dict[str, Any]:
        return {"preview": True, "booking": p.booking_id, "cost": CostSerializer(p).data}


class BookingCostSerializer(BookingSerializer):
    """A booking after an action, with what the action cost (``cost``: set on the booking by the view)."""

    cost = CostSerializer(read_only=True)

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "cost"]


class AddedSerializer(serializers.Serializer):
    """The time an extension adds, at the price in force (major units of the booking's currency)."""

    seconds = serializers.IntegerField(help_text="Seconds added to the booking's end.")
    units = serializers.IntegerField(help_text="Grid units added.")
    unit_price = serializers.CharField(help_text="Price per added grid unit (fixed: listed; dynamic: today's).")
    price = serializers.CharField(help_text="What the added time costs: unit_price × units.")
    ends_at = serializers.DateTimeField(help_text="The booking's end after the extension.")

    def to_representation(self, ext: Any) -> dict[str, Any]:
        cur = ext.booking.currency
        return {
            "seconds": ext.seconds,
            "units": ext.units,
            "unit_price": major(ext.unit_price, cur),
            "price": major(ext.price, cur),
            "ends_at": _iso(ext.booking.ends_at),
        }


class ExtensionSerializer(BookingCostSerializer):
    """The booking after its extension (new end and price), what was added, and ``cost``: what the booking
    now holds and would be charged run to its end."""

    extension = serializers.SerializerMethodField()

    class Meta(BookingCostSerializer.Meta):
        fields = [*BookingCostSerializer.Meta.fields, "extension"]

    @extend_schema_field(AddedSerializer)
    def get_extension(self, b: Booking) -> dict[str, Any]:
        return dict(AddedSerializer(b.extension).data)  # type: ignore[attr-defined]  # set by the view


class ExtensionPreviewSerializer(PreviewSerializer):
    """The answer to an extension's ``?preview=1``: what it would cost and the end it would have; nothing done."""

    extension = AddedSerializer()

    def to_representation(self, ext: Any) -> dict[str, Any]:
        return {**super().to_representation(ext.cost), "extension": AddedSerializer(ext).data}


class ExtendErrorSerializer(serializers.Serializer):
    """The API's error shape (marketplace.lib.api.error_body), as the extend endpoint documents it."""

    error = serializers.CharField(help_text="A stable code, e.g. invalid, not_found, extension_unavailable.")
    detail = serializers.CharField(help_text="What went wrong, in words.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="field -> messages, for input errors.",
    )


class ExtendConflictSerializer(ExtendErrorSerializer):
    longest_seconds = serializers.IntegerField(
        required=False,
        help_text="With `extension_unavailable`: the longest extension that can be granted now (0: none); ask "
        "for it to get it.",
    )


class PriceHistoryQuerySerializer(serializers.Serializer):
    profile = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="Only this slice profile (one the offering prices).",
    )
    source = serializers.ChoiceField(
        required=False, choices=PriceHistory.Source.choices, help_text="Only prices from this source."
    )
    since = BoundedDateTimeField(
        required=False, help_text="Start of the range (default: `until` - 7 days); without a zone, UTC."
    )
    until = BoundedDateTimeField(
        required=False, help_text="End of the range, excluded (default: now); without a zone, UTC."
    )
    # The range's order and length are the selector's rules (scheduling.selectors.price_history).


class PricePointSerializer(serializers.ModelSerializer):
    unit_price = serializers.SerializerMethodField(help_text="Price per grid unit, major units of `currency`.")

    class Meta:
        model = PriceHistory
        fields = ["at", "profile", "source", "unit_price", "currency", "utilisation"]

    def get_unit_price(self, p: PriceHistory) -> str | None:
        return major(p.unit_price, p.currency)
