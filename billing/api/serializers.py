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


# ---- answers that are not one model (documented in the OpenAPI schema) --------------------------


class CurrencyBalanceOut(serializers.Serializer):
    currency = serializers.CharField()
    available = serializers.IntegerField(help_text="Minor units the renter may spend.")
    held = serializers.IntegerField(help_text="Minor units held for bookings.")
    available_display = serializers.CharField()
    held_display = serializers.CharField()


class BalanceOut(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["prepaid", "card_per_booking"])
    currency = serializers.CharField(help_text="The renter's default currency (the one their bookings are in).")
    available = serializers.IntegerField(help_text="Minor units, in `currency`.")
    held = serializers.IntegerField(help_text="Minor units, in `currency`.")
    balances = CurrencyBalanceOut(many=True)
    topup_currencies = serializers.ListField(child=serializers.CharField())


class StatementLineOut(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    description = serializers.CharField()
    booking_id = serializers.IntegerField(allow_null=True)
    amount = serializers.IntegerField(help_text="Signed minor units: + money in, - money spent.")
    currency = serializers.CharField()


class CardSetupOut(serializers.Serializer):
    setup_intent_id = serializers.CharField()
    client_secret = serializers.CharField(help_text="Confirm it with Stripe.js, then POST /cards.")
    publishable_key = serializers.CharField()


class PayoutsOut(serializers.Serializer):
    payable = serializers.DictField(
        child=serializers.IntegerField(), help_text="Currency -> minor units owed to the owner."
    )
    payouts = PayoutOut(many=True)
