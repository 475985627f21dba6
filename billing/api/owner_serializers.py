"""Shapes of the owner API's revenue endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework import serializers

from marketplace.lib import inputs

DEFAULT_DAYS = 31  # the owner revenue page's period


class RevenueQuerySerializer(serializers.Serializer):
    # ``from`` is a Python keyword: the field is declared in __init__ below.
    to = serializers.DateField(required=False, help_text="Last day included (UTC; default: today).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(
            required=False, help_text=f"First day included (UTC; default: {DEFAULT_DAYS - 1} days before `to`)."
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for key in ("from", "to"):
            if attrs.get(key) is not None:
                wrong = inputs.year_error(attrs[key].year)
                if wrong:
                    errors[key] = wrong
        if errors:
            raise serializers.ValidationError(errors)
        last = attrs.get("to") or self.context["today"]
        first = attrs.get("from") or last - timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise serializers.ValidationError({"to": "The last day cannot come before the first."})
        top = inputs.max_range().days
        if (last - first).days + 1 > top:
            raise serializers.ValidationError({"to": f"A time range can be at most {top} days long."})
        return {"from": first, "to": last}


class AmountsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    gross = serializers.IntegerField(help_text="What renters paid (minor units).")
    fees = serializers.IntegerField(help_text="The platform's fee (minor units).")
    credits = serializers.IntegerField(help_text="Short-notice credits given to renters (minor units).")
    net = serializers.IntegerField(help_text="What the owner earned: gross - fees - credits (minor units).")


class OfferingRevenueSerializer(AmountsSerializer):
    offering = serializers.IntegerField(allow_null=True)
    offering_name = serializers.CharField()


class DayRevenueSerializer(AmountsSerializer):
    day = serializers.DateField()
    offering = serializers.IntegerField(allow_null=True)


class RevenueSerializer(serializers.Serializer):
    to = serializers.DateField()
    totals = AmountsSerializer(many=True, help_text="Per currency.")
    offerings = OfferingRevenueSerializer(many=True, help_text="Per offering and currency.")
    days = DayRevenueSerializer(many=True, help_text="Per day, offering and currency, newest first.")
    payable = serializers.DictField(child=serializers.IntegerField(), help_text="Currency -> payable now (minor).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField()
