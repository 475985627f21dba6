from __future__ import annotations

from rest_framework import serializers

from billing.models import BookingCharge, Payment, PaymentMethod, Payout
from marketplace.lib.money import CURRENCY_CHOICES


class TopUpInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, help_text="Minor units.")
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)


class PayoutInput(serializers.Serializer):
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, default="USD")


class PaymentOut(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id",
            "purpose",
            "amount",
            "captured_amount",
            "currency",
            "status",
            "failure_code",
            "failure_message",
            "booking_id",
            "created_at",
        ]


class BookingChargeOut(serializers.ModelSerializer):
    cost_so_far = serializers.IntegerField(read_only=True)

    class Meta:
        model = BookingCharge
        fields = [
            "booking_id",
            "currency",
            "price",
            "starts_at",
            "ends_at",
            "state",
            "used_seconds",
            "charged_amount",
            "credit_amount",
            "outcome",
            "cost_so_far",
        ]


class PayoutOut(serializers.ModelSerializer):
    class Meta:
        model = Payout
        fields = [
            "id",
            "amount",
            "currency",
            "trigger",
            "status",
            "stripe_transfer_id",
            "failure_message",
            "created_at",
        ]


class CardInput(serializers.Serializer):
    setup_intent = serializers.CharField(max_length=100)


class CardOut(serializers.ModelSerializer):
    class Meta:
        model = PaymentMethod
        fields = ["id", "brand", "last4", "exp_month", "exp_year", "is_default", "created_at"]
