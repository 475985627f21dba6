"""REST views of provisioning: the server of a booking (how to connect), its console log and its usage.

The engine owns GET /api/v1/timeslots/{id}/usage and may call
provisioning.selectors.usage_for_booking; this app serves the same figures under
/api/v1/bookings/{id}/server and /api/v1/bookings/{id}/server/usage until then.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from marketplace.lib.errors import NotFoundError, PermissionDeniedError, ValidationFailed
from marketplace.lib.staff import staff_may
from provisioning import selectors
from provisioning.access import CONSOLE_LINES_DEFAULT, CONSOLE_LINES_MAX, console_log
from provisioning.api.serializers import BookingServerOut, ConsoleOut
from provisioning.api.usage_serializers import BookingUsageSerializer
from scheduling.models import Booking

VIEW_SERVER = "provisioning.view_server"  # staff reading renters' servers and consoles


def _visible_booking(request: Request, booking_id: int) -> Booking:
    booking = Booking.objects.select_related("offering").filter(pk=booking_id).first()
    user = request.user
    if booking is None or not (
        booking.renter_id == user.pk or staff_may(user, VIEW_SERVER) or booking.offering.owner_id == user.pk
    ):
        raise NotFoundError("No such booking.")
    return booking


@extend_schema(responses=BookingServerOut, summary="A booking's server: how to connect")
@api_view(["GET"])
def booking_server(request: Request, booking_id: int) -> Response:
    """The booking's server: addresses, the connection command, the SSH sources let in; for the renter
    (and staff) also whether user-data was given and where the console log is."""
    booking = _visible_booking(request, booking_id)
    body = dict(selectors.connection_info(booking) or {"state": "none", "ready": False})
    body["ssh_cidrs"] = list(booking.ssh_cidrs or [])
    if _may_read_console(request, booking):
        body["has_user_data"] = booking.has_user_data
        body["console"] = reverse("api-booking-server-console", args=[booking.pk], request=request)
    return Response(body)


def _may_read_console(request: Request, booking: Booking) -> bool:
    return booking.renter_id == request.user.pk or staff_may(request.user, VIEW_SERVER)


@extend_schema(
    responses=ConsoleOut,
    parameters=[
        OpenApiParameter(
            "length",
            int,
            description=f"Lines (1-{CONSOLE_LINES_MAX}, default {CONSOLE_LINES_DEFAULT}).",
            required=False,
        )
    ],
    summary="The last lines of a booking's server console log",
)
@api_view(["GET"])
def booking_console(request: Request, booking_id: int) -> Response:
    """The last ``length`` lines (1-1000, default 200) of the server's console log (Nova's
    os-getConsoleOutput): {available, output, message}. The renter's and staff's only: the console can
    show what the renter's user-data did, so the offering's owner gets 403."""
    booking = _visible_booking(request, booking_id)
    if not _may_read_console(request, booking):
        raise PermissionDeniedError("The console log is shown to the booking's renter only.")
    raw = request.query_params.get("length", str(CONSOLE_LINES_DEFAULT))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= CONSOLE_LINES_MAX:
        raise ValidationFailed({"length": [f"Give a whole number of lines from 1 to {CONSOLE_LINES_MAX}."]})
    return Response(console_log(booking, length=int(raw)))


@extend_schema(responses=BookingUsageSerializer, summary="Usage of a booking's server: samples, series, totals")
@api_view(["GET"])
def booking_usage(request: Request, booking_id: int) -> Response:
    """Usage metered on the booking's server: readings, per-interval growth, totals, and which figures the
    cloud could not give and why (the renter of the booking, the owner of its offering, staff)."""
    usage = selectors.usage_for_booking(_visible_booking(request, booking_id))
    return Response(BookingUsageSerializer(usage).data)
