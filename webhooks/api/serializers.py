"""Input and output shapes of /api/v1/webhooks (the rules are the services')."""

from __future__ import annotations

from rest_framework import serializers

from webhooks.models import Delivery, DeliveryAttempt, Endpoint, EventType


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.SerializerMethodField(help_text="Shown only in the answer that created or rotated it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj: Endpoint) -> str:
        return str(self.context.get("secret", ""))


class EndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), max_length=50)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "succeeded", "status_code", "latency_ms", "error", "response_body"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.event_id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "booking_id",
            "state",
            "manual",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    body = serializers.CharField(source="event.body", read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "body"]
        read_only_fields = fields
