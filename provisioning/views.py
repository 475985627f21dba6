"""Portal pages of provisioning: how the renter connects to a booking's server, its console log, and
changing its profile. The console is the renter's (and staff's) only: it can print what the
renter's user-data did, so the offering's owner never sees it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from marketplace.lib.errors import DomainError
from owners.models import PricingPolicy
from provisioning import selectors, services
from provisioning.access import CONSOLE_LINES_DEFAULT, console_log
from scheduling.models import Booking


def _own_booking(request: HttpRequest, booking_id: int) -> Booking:
    booking = Booking.objects.select_related("offering", "profile").filter(pk=booking_id).first()
    if booking is None or booking.renter_id != request.user.pk:
        raise Http404("No such booking.")
    return booking


def _console_booking(request: HttpRequest, booking_id: int) -> Booking:
    """The renter's own booking, or any for staff; 404 for everyone else (the owner included)."""
    booking = Booking.objects.select_related("offering", "profile").filter(pk=booking_id).first()
    if booking is None or not (booking.renter_id == request.user.pk or request.user.is_staff):
        raise Http404("No such booking.")
    return booking


@login_required
def booking_console(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = _console_booking(request, booking_id)
    try:
        length = int(request.GET.get("length", CONSOLE_LINES_DEFAULT))
    except ValueError:
        length = CONSOLE_LINES_DEFAULT
    return render(
        request,
        "provisioning/console.html",
        {"booking": booking, "console": console_log(booking, length=length), "length": length},
    )


@login_required
def booking_server(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = _own_booking(request, booking_id)
    profiles = (
        PricingPolicy.objects.filter(offering=booking.offering)
        .select_related("profile")
        .exclude(profile=booking.profile)
        if booking.state == "running"
        else []
    )
    return render(
        request,
        "provisioning/connect.html",
        {
            "booking": booking,
            "info": selectors.connection_info(booking),
            "usage": selectors.usage_for_booking(booking),
            "profiles": [p.profile for p in profiles],
            "ssh_cidrs": list(booking.ssh_cidrs or []),
            "has_user_data": booking.has_user_data,
        },
    )


@login_required
@require_POST
def booking_resize(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = _own_booking(request, booking_id)
    try:
        profile_id = int(request.POST.get("profile", ""))
        services.booking_change_profile(actor=request.user, booking_id=booking.pk, profile_id=profile_id)
    except ValueError:
        messages.error(request, "Choose a profile.")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Resizing your server: it restarts on the new profile in a minute or so.")
    return redirect("provisioning:booking_server", booking_id=booking.pk)
