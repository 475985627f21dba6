"""Shapes of the owner API's market endpoints: bookings on the owner's offerings and preemption.

The renter is named by their public handle only (never their email, user-data or SSH ranges)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from marketplace.lib.inputs import BIGINT_MAX, INT_MAX
from scheduling.api.serializers import major
from scheduling.models import Booking, BookingState


class OwnerBookingQuerySerializer(serializers.Serializer):
    offering = serializers.IntegerField(
        required=False, min_value=1, max_value=BIGINT_MAX, help_text="Only bookings on this offering of yours."
    )
    state = serializers.ChoiceField(required=False, choices=BookingState.choices, help_text="Only this state.")


class OwnerBookingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    reason = serializers.CharField()
    offering = serializers.IntegerField(source="offering_id")
    offering_name = serializers.CharField(source="offering.name")
    profile = serializers.IntegerField(source="profile_id")
    profile_name = serializers.CharField(source="profile.name")
    renter = serializers.CharField(source="renter.handle", help_text="The renter's public handle.")
    pricing_model = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    duration = serializers.IntegerField(source="duration_seconds")
    image = serializers.CharField()
    currency = serializers.CharField()
    unit_price = serializers.SerializerMethodField(help_text="Per grid unit, major units of `currency`.")
    total_price = serializers.SerializerMethodField()
    preempt_deadline = serializers.DateTimeField(allow_null=True)
    notice_given_at = serializers.DateTimeField(allow_null=True)
    notice_seconds = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    def get_unit_price(self, b: Booking) -> str | None:
        return major(b.unit_price, b.currency)

    def get_total_price(self, b: Booking) -> str | None:
        return major(b.total_price, b.currency)


class PreemptInputSerializer(serializers.Serializer):
    notice_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=INT_MAX,
        help_text="Seconds of notice (default: the offering's; at most the market's maximum; 0: now).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Told to the renter with the notice."
    )


class NoticeSerializer(serializers.Serializer):
    booking = serializers.IntegerField()
    state = serializers.CharField(help_text="notice (or preempted with 0 s notice); in a preview: the state now.")
    notice_seconds = serializers.IntegerField()
    deadline = serializers.DateTimeField(help_text="When the booking ends as preempted (UTC).")
    runs_to_end = serializers.BooleanField(
        help_text="The notice reaches the booking's own end: it completes then, as it would have anyway."
    )


class PreemptionSerializer(serializers.Serializer):
    preview = serializers.BooleanField(help_text="True: what would happen; nothing was done.")
    offering = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Bookings given notice (or that would be).")
    notices = NoticeSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "preview": instance["preview"],
            "offering": instance["offering"],
            "count": len(instance["notices"]),
            "notices": NoticeSerializer(instance["notices"], many=True).data,
        }
