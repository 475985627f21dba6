"""The owner API's market endpoints: bookings on the owner's offerings, preemption with notice.

Mounted under /api/v1/owner/ (token scope ``owner``; owners and staff only). A booking or offering
not the caller's answers 404, as in the portal; preemption calls the portal's services
(preemption_preview, booking_preempt, offering_preempt_all), which check, write, audit and tell
the renter.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import OWNER_API_PERMISSIONS
from accounts.requests import actor
from marketplace.lib import clock
from marketplace.lib.errors import NotFoundError
from marketplace.lib.idempotency import is_preview
from owners import selectors as owner_selectors
from owners.models import Offering
from scheduling import selectors, services
from scheduling.api.owner_serializers import (
    OwnerBookingQuerySerializer,
    OwnerBookingSerializer,
    PreemptInputSerializer,
    PreemptionSerializer,
)
from scheduling.models import Booking
from scheduling.services import NoticePlan

PREVIEW = OpenApiParameter(
    "preview",
    bool,
    OpenApiParameter.QUERY,
    description="1: answer with what the preemption would do (each booking's notice and deadline) and do nothing.",
)


class _OwnerView(GenericAPIView):
    permission_classes = OWNER_API_PERMISSIONS
    filter_backends: list = []


def _owned_booking(request: Request, booking_id: int) -> Booking:
    booking = selectors.bookings_for_owner(actor(request)).filter(pk=booking_id).first()
    if booking is None:
        raise NotFoundError("No such booking on your offerings.")
    return booking


def _owned_offering(request: Request, offering_id: int) -> Offering:
    offering = owner_selectors.offerings_for_owner(actor(request)).filter(pk=offering_id).first()
    if offering is None:
        raise NotFoundError("No such offering.")
    return offering


def _planned(plans: list[NoticePlan], states: dict[int, str]) -> list[dict[str, Any]]:
    return [
        {
            "booking": p.booking_id,
            "state": states.get(p.booking_id, ""),
            "notice_seconds": p.notice_seconds,
            "deadline": p.deadline,
            "runs_to_end": p.runs_to_end,
        }
        for p in plans
    ]


def _given(bookings: Any) -> list[dict[str, Any]]:
    """The notices as the bookings now hold them (the service stored deadline and seconds on each)."""
    return [
        {
            "booking": b.pk,
            "state": b.state,
            "notice_seconds": b.notice_seconds or 0,
            "deadline": b.preempt_deadline,
            "runs_to_end": b.preempt_deadline is not None and b.preempt_deadline >= b.ends_at,
        }
        for b in bookings
    ]


class OwnerBookingListView(_OwnerView):
    """Bookings and bids on the owner's offerings, newest first."""

    serializer_class = OwnerBookingSerializer

    @extend_schema(
        summary="Bookings on your offerings",
        parameters=[OwnerBookingQuerySerializer],
        responses=OwnerBookingSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = OwnerBookingQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.bookings_for_owner(actor(request)).order_by("-id")
        if params.validated_data.get("offering"):
            qs = qs.filter(offering_id=params.validated_data["offering"])
        if params.validated_data.get("state"):
            qs = qs.filter(state=params.validated_data["state"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(OwnerBookingSerializer(page, many=True).data)


class OwnerBookingDetailView(_OwnerView):
    serializer_class = OwnerBookingSerializer

    @extend_schema(summary="One booking on your offerings", responses=OwnerBookingSerializer)
    def get(self, request: Request, booking_id: int) -> Response:
        return Response(OwnerBookingSerializer(_owned_booking(request, booking_id)).data)


class BookingPreemptView(_OwnerView):
    """Give one booking on the owner's offering notice: it ends as preempted at the deadline."""

    serializer_class = PreemptInputSerializer

    @extend_schema(
        summary="Preempt a booking on your offering (after notice)",
        request=PreemptInputSerializer,
        parameters=[PREVIEW],
        responses=PreemptionSerializer,
        description="The renter is told at once, with the deadline; with 0 s notice the booking ends now. A "
        "notice longer than the booking has left runs to its end. Already under notice: 409; ended: 409 "
        "`invalid_transition`; a notice above the market's maximum: 400 on `notice_seconds`.",
    )
    def post(self, request: Request, booking_id: int) -> Response:
        booking = _owned_booking(request, booking_id)
        data = PreemptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notice = data.validated_data.get("notice_seconds")
        if is_preview(request):
            plans = services.preemption_preview(actor=actor(request), booking=booking, notice_seconds=notice)
            body = {
                "preview": True,
                "offering": booking.offering_id,
                "notices": _planned(plans, {booking.pk: booking.state}),
            }
            return Response(PreemptionSerializer(body).data)
        done = services.booking_preempt(
            actor=actor(request), booking=booking, notice_seconds=notice, reason=data.validated_data.get("reason", "")
        )
        done.refresh_from_db()
        return Response(
            PreemptionSerializer({"preview": False, "offering": done.offering_id, "notices": _given([done])}).data
        )


class OfferingPreemptView(_OwnerView):
    """Give every live booking of one of the owner's offerings notice (maintenance)."""

    serializer_class = PreemptInputSerializer

    @extend_schema(
        summary="Preempt every live booking of your offering (after notice)",
        request=PreemptInputSerializer,
        parameters=[PREVIEW],
        responses=PreemptionSerializer,
        description="Each renter is told at once, with their booking's deadline. A notice above the market's "
        "maximum: 400 on `notice_seconds`, nothing done.",
    )
    def post(self, request: Request, offering_id: int) -> Response:
        offering = _owned_offering(request, offering_id)
        data = PreemptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notice = data.validated_data.get("notice_seconds")
        if is_preview(request):
            plans = services.preemption_preview(actor=actor(request), offering=offering, notice_seconds=notice)
            states = dict(Booking.objects.filter(pk__in=[p.booking_id for p in plans]).values_list("pk", "state"))
            return Response(
                PreemptionSerializer(
                    {"preview": True, "offering": offering.pk, "notices": _planned(plans, states)}
                ).data
            )
        since = clock.now()
        services.offering_preempt_all(
            actor=actor(request), offering=offering, notice_seconds=notice, reason=data.validated_data.get("reason", "")
        )
        given = Booking.objects.filter(offering=offering, notice_given_at__gte=since).order_by("id")
        return Response(
            PreemptionSerializer({"preview": False, "offering": offering.pk, "notices": _given(given)}).data
        )
