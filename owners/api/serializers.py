"""Input and output shapes of the owner API (the rules are the services')."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.lib.inputs import BIGINT_MAX, INT_MAX
from marketplace.lib.money import CURRENCY_CHOICES, Money, MoneyError, to_minor
from owners.models import MAX_GRID_SECONDS, MIN_GRID_SECONDS, Offering, PricingPolicy
from owners.services import OFFERING_TRANSITIONS

MONEY_FIELDS = ("price_per_unit", "reserve_price", "base_price", "floor_price", "cap_price")


class StandbyPoolInputSerializer(serializers.Serializer):
    profile = serializers.IntegerField(min_value=1, help_text="Id of one of the offering's priced profiles.")
    image = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="", help_text="Blank: the offering's first image."
    )
    size = serializers.IntegerField(min_value=0, max_value=64, help_text="Servers kept booted and idle (0 keeps none).")


class StandbyServerCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    building = serializers.IntegerField()
    standby = serializers.IntegerField(help_text="Booted, wiped and idle: ready for a renter.")
    wiping = serializers.IntegerField(help_text="Being rebuilt after a renter, for the pool.")


class StandbyPoolSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    profile = serializers.IntegerField(source="profile_id")
    profile_name = serializers.CharField(source="profile.name")
    image = serializers.CharField()
    size = serializers.IntegerField()
    servers = StandbyServerCountsSerializer(source="server_counts", help_text="The pool's servers now, by state.")
    updated_at = serializers.DateTimeField()


class CapacitySerializer(serializers.Serializer):
    vcpus = serializers.IntegerField()
    ram_mib = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    bandwidth_mbps = serializers.IntegerField()


class OfferingStandbySerializer(serializers.Serializer):
    offering = serializers.IntegerField()
    capacity = CapacitySerializer()
    held_back = CapacitySerializer(help_text="What the standby servers hold back from sale.")
    sellable = CapacitySerializer(help_text="Capacity minus what is held back: what the market sells.")
    pools = StandbyPoolSerializer(many=True)


# ---- clouds ---------------------------------------------------------------------------------------


class CloudSerializer(serializers.Serializer):
    """One of the owner's clouds. The credential secret is never shown back, only whether one is stored."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    driver = serializers.CharField()
    auth_url = serializers.CharField()
    region_name = serializers.CharField()
    project_id = serializers.CharField()
    app_credential_id = serializers.CharField()
    has_secret = serializers.BooleanField(help_text="A credential secret is stored (it is never shown).")
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_check_ok = serializers.BooleanField(allow_null=True)
    last_check_message = serializers.CharField()
    created_at = serializers.DateTimeField()


# ---- offerings ------------------------------------------------------------------------------------

POSITIVE_INT = {"min_value": 0, "max_value": INT_MAX}


class OfferingInputSerializer(serializers.Serializer):
    """An offering's fields (create: cloud, name, vcpus and ram_mib required; PATCH: any of them).

    The shape only: the service checks the rules (grid multiples, operator maxima, profiles it prices,
    capacity live bookings hold) and answers them as field errors."""

    cloud = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="Id of one of your clouds.")
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    region = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Default: the cloud's.")
    vcpus = serializers.IntegerField(min_value=1, max_value=INT_MAX)
    ram_mib = serializers.IntegerField(min_value=128, max_value=INT_MAX)
    disk_gb = serializers.IntegerField(required=False, **POSITIVE_INT)
    bandwidth_mbps = serializers.IntegerField(required=False, **POSITIVE_INT)
    grid_seconds = serializers.IntegerField(
        required=False, min_value=MIN_GRID_SECONDS, max_value=MAX_GRID_SECONDS, help_text="5 s to 1 h."
    )
    min_length_seconds = serializers.IntegerField(required=False, min_value=1, max_value=INT_MAX)
    max_length_seconds = serializers.IntegerField(required=False, min_value=1, max_value=INT_MAX)
    timezone = serializers.CharField(required=False, max_length=64, help_text="Availability windows' time zone.")
    allowed_images = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100, help_text="Empty: any image."
    )
    preemption_notice_seconds = serializers.IntegerField(required=False, **POSITIVE_INT)


class OfferingStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["draft", "published", "paused", "retired"],
        help_text="draft -> published or retired; published <-> paused; retired is final. Publishing needs an "
        "approved owner account and a price.",
    )


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$", "example": "08:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day on the offering's wall clock, without a zone ("08:00", "17:30:00"): OpenAPI's
    ``format: time`` is RFC 3339's, which demands an offset, so the schema names the pattern instead."""


class WindowSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        min_length=1,
        max_length=7,
        help_text="0 = Monday … 6 = Sunday.",
    )
    start_time = WallClockTimeField(help_text="In the offering's time zone, e.g. 08:00.")
    end_time = WallClockTimeField(help_text="At or before start_time: the window runs past midnight.")


class OfferingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    cloud = serializers.IntegerField(source="cloud_id")
    name = serializers.CharField()
    description = serializers.CharField()
    region = serializers.CharField()
    status = serializers.CharField()
    vcpus = serializers.IntegerField()
    ram_mib = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    bandwidth_mbps = serializers.IntegerField()
    grid_seconds = serializers.IntegerField()
    min_length_seconds = serializers.IntegerField()
    max_length_seconds = serializers.IntegerField()
    timezone = serializers.CharField()
    allowed_images = serializers.ListField(child=serializers.CharField())
    preemption_notice_seconds = serializers.IntegerField()
    held_back = CapacitySerializer(source="standby_capacity", help_text="Held back for standby servers.")
    windows = WindowSerializer(many=True, source="windows.all")
    transitions = serializers.SerializerMethodField(help_text="The statuses it may move to now.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_transitions(self, offering: Offering) -> list[str]:
        return sorted(OFFERING_TRANSITIONS[offering.status])


# ---- profiles -------------------------------------------------------------------------------------


class ProfileInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    vcpus = serializers.IntegerField(min_value=1, max_value=512)
    ram_mib = serializers.IntegerField(min_value=128, max_value=INT_MAX)
    disk_gb = serializers.IntegerField(required=False, **POSITIVE_INT)
    bandwidth_mbps = serializers.IntegerField(required=False, **POSITIVE_INT)
    flavor_name = serializers.CharField(max_length=100, help_text="The cloud flavor servers of it launch with.")


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    vcpus = serializers.IntegerField()
    ram_mib = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    bandwidth_mbps = serializers.IntegerField()
    flavor_name = serializers.CharField()
    predefined = serializers.BooleanField(source="is_predefined", help_text="The platform's (read-only).")


# ---- pricing --------------------------------------------------------------------------------------

MONEY_HELP = "Per grid unit, in the currency's major unit (e.g. 0.05)."


def _money() -> serializers.DecimalField:
    return serializers.DecimalField(
        required=False, allow_null=True, max_digits=14, decimal_places=6, min_value=Decimal(0), help_text=MONEY_HELP
    )


class PricingInputSerializer(serializers.Serializer):
    """A profile's price on an offering: fixed (price_per_unit), auction (reserve_price,
    bidding_closes_seconds, clearing_rule) or dynamic (base, floor, cap, surge_curve)."""

    model = serializers.ChoiceField(choices=PricingPolicy.Model.choices)
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, required=False, help_text="Default: the offering's (USD for its first price)."
    )
    price_per_unit = _money()
    reserve_price = _money()
    bidding_closes_seconds = serializers.IntegerField(required=False, allow_null=True, **POSITIVE_INT)
    clearing_rule = serializers.ChoiceField(
        choices=PricingPolicy.ClearingRule.choices, required=False, allow_blank=True
    )
    base_price = _money()
    floor_price = _money()
    cap_price = _money()
    surge_curve = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False,
        max_length=50,
        help_text="Points [utilisation %, multiplier], utilisation rising from 0 to 100.",
    )
    release_charge = serializers.ChoiceField(choices=PricingPolicy.ReleaseCharge.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        currency = attrs.get("currency") or self.context.get("currency") or "USD"
        attrs["currency"] = currency
        errors: dict[str, str] = {}
        for name in MONEY_FIELDS:
            value = attrs.get(name)
            if value is None:
                continue
            try:
                attrs[name] = to_minor(value, currency)
            except MoneyError as exc:
                errors[name] = str(exc)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class PricingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    offering = serializers.IntegerField(source="offering_id")
    profile = serializers.IntegerField(source="profile_id")
    profile_name = serializers.CharField(source="profile.name")
    model = serializers.CharField()
    currency = serializers.CharField()
    price_per_unit = serializers.SerializerMethodField()
    reserve_price = serializers.SerializerMethodField()
    bidding_closes_seconds = serializers.IntegerField(allow_null=True)
    clearing_rule = serializers.CharField()
    base_price = serializers.SerializerMethodField()
    floor_price = serializers.SerializerMethodField()
    cap_price = serializers.SerializerMethodField()
    surge_curve = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    release_charge = serializers.CharField()
    updated_at = serializers.DateTimeField()

    def _major(self, policy: PricingPolicy, name: str) -> str | None:
        value = getattr(policy, name)
        return None if value is None else str(Money(value, policy.currency).major())

    def get_price_per_unit(self, policy: PricingPolicy) -> str | None:
        return self._major(policy, "price_per_unit")

    def get_reserve_price(self, policy: PricingPolicy) -> str | None:
        return self._major(policy, "reserve_price")

    def get_base_price(self, policy: PricingPolicy) -> str | None:
        return self._major(policy, "base_price")

    def get_floor_price(self, policy: PricingPolicy) -> str | None:
        return self._major(policy, "floor_price")

    def get_cap_price(self, policy: PricingPolicy) -> str | None:
        return self._major(policy, "cap_price")
