"""REST views of provisioning: the server of a booking (how to connect) and its usage.

The engine owns GET /api/v1/timeslots/{id}/usage and may call
provisioning.selectors.usage_for_booking; this app serves the same figures under
/api/v1/bookings/{id}/server and /api/v1/bookings/{id}/server/usage until then.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.lib.errors import NotFoundError
from provisioning import selectors
from provisioning.api.usage_serializers import BookingUsageSerializer
from scheduling.models import Booking


def _visible_booking(request: Request, booking_id: int) -> Booking:
    booking = Booking.objects.select_related("offering").filter(pk=booking_id).first()
    user = request.user
    if booking is None or not (booking.renter_id == user.pk or user.is_staff or booking.offering.owner_id == user.pk):
        raise NotFoundError("No such booking.")
    return booking


@api_view(["GET"])
def booking_server(request: Request, booking_id: int) -> Response:
    booking = _visible_booking(request, booking_id)
    return Response(selectors.connection_info(booking) or {"state": "none", "ready": False})


@extend_schema(responses=BookingUsageSerializer, summary="Usage of a booking's server: samples, series, totals")
@api_view(["GET"])
def booking_usage(request: Request, booking_id: int) -> Response:
    """Usage metered on the booking's server: readings, per-interval growth, totals, and which figures the
    cloud could not give and why (the renter of the booking, the owner of its offering, staff)."""
    usage = selectors.usage_for_booking(_visible_booking(request, booking_id))
    return Response(BookingUsageSerializer(usage).data)
