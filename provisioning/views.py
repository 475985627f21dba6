"""Portal pages of provisioning: how the renter connects to a booking's server, its console log,
changing its profile, and the owner's standby servers (the pool setting, the servers, adopting the
project's existing servers). The console is the renter's (and staff's) only: it can print what the
renter's user-data did, so the offering's owner never sees it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.requests import actor
from marketplace.lib.enqueue import send_on_commit
from marketplace.lib.errors import DomainError, ValidationFailed
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.staff import staff_may
from owners import selectors as owner_selectors
from owners import services as owner_services
from owners.forms import StandbyPoolForm
from owners.models import Offering, PricingPolicy
from owners.views import owner_required
from provisioning import selectors, services
from provisioning.access import CONSOLE_LINES_DEFAULT, console_log
from provisioning.drivers import CloudError, driver_for
from provisioning.models import LIVE_STATES, Server
from scheduling import selectors as engine_selectors
from scheduling.models import FINAL_STATES, Booking


def _own_booking(request: HttpRequest, booking_id: int) -> Booking:
    booking = Booking.objects.select_related("offering", "profile").filter(pk=booking_id).first()
    if booking is None or booking.renter_id != request.user.pk:
        raise Http404("No such booking.")
    return booking


def _console_booking(request: HttpRequest, booking_id: int) -> Booking:
    """The renter's own booking, or any for staff; 404 for everyone else (the owner included)."""
    booking = Booking.objects.select_related("offering", "profile").filter(pk=booking_id).first()
    if booking is None or not (
        booking.renter_id == request.user.pk or staff_may(request.user, "provisioning.view_server")
    ):
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


def _polled(request: HttpRequest) -> bool:
    """An htmx poll of the page's live part (not htmx restoring the whole page from its history)."""
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


@login_required
def booking_server(request: HttpRequest, booking_id: int) -> HttpResponse:
    """The booking's page (where a renter lands after buying): its state, cost so far and server. Its live
    part polls this same URL (htmx), answered alone, until the booking reaches a final state."""
    booking = _own_booking(request, booking_id)
    live = {
        "booking": booking,
        "info": selectors.connection_info(booking),
        "cost": engine_selectors.booking_running_cost(booking),
        "final": booking.state in FINAL_STATES,
        "ssh_cidrs": list(booking.ssh_cidrs or []),
        "has_user_data": booking.has_user_data,
    }
    if _polled(request):
        response = render(request, "provisioning/_live.html", live)
    else:
        profiles = (
            PricingPolicy.objects.filter(offering=booking.offering)
            .select_related("profile")
            .exclude(profile=booking.profile)
            if booking.state == "running"
            else []
        )
        response = render(
            request,
            "provisioning/connect.html",
            live | {"usage": selectors.usage_for_booking(booking), "profiles": [p.profile for p in profiles]},
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


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


# ---- the owner's standby servers (the warm pool) -------------------------------------------------
# Pages of the owner portal that read Server rows, so they live here (owners may not import
# provisioning); the pool setting itself is owners.services.standby_pool_set.

ADOPT_WARNING = "Adopted servers are rebuilt (their disk replaced) before the first renter gets them."


def _owned_offering(request: HttpRequest, pk: int) -> Offering:
    return get_object_or_404(owner_selectors.offerings_for_owner(actor(request)).select_related("cloud"), pk=pk)


def _held_back(offering: Offering) -> list[tuple[str, int, int, int]]:
    """(resource, held for standby, capacity, for sale) for vCPU and RAM (MiB)."""
    sellable = offering.sellable_capacity()
    return [
        ("vCPU", offering.standby_vcpus, offering.vcpus, sellable["vcpus"]),
        ("RAM (MiB)", offering.standby_ram_mib, offering.ram_mib, sellable["ram_mib"]),
    ]


@owner_required
def offering_standby(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _owned_offering(request, pk)
    form = StandbyPoolForm(request.POST or None, offering=offering)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                pool = owner_services.standby_pool_set(
                    actor=actor(request),
                    offering=offering,
                    profile=form.cleaned_data["profile"],
                    image=form.cleaned_data.get("image") or "",
                    size=form.cleaned_data["size"],
                )
                send_on_commit("provisioning.refill_pool", pool.pk)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(
                request, f"Standby servers of {pool.profile.name}: {pool.size}. The pool refills in the background."
            )
            return redirect("provisioning:offering_standby", pk=offering.pk)
    offering.refresh_from_db()
    pools = list(offering.standby_pools.select_related("profile"))
    counts = selectors.standby_counts([p.pk for p in pools])
    return render(
        request,
        "provisioning/offering_standby.html",
        {
            "offering": offering,
            "form": form,
            "pools": [(p, counts.get(p.pk, {})) for p in pools],
            "servers": selectors.standby_servers(offering.pk),
            "held_back": _held_back(offering),
        },
        status=400 if form.errors else 200,
    )


@owner_required
def offering_adopt(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _owned_offering(request, pk)
    pools = list(offering.standby_pools.select_related("profile"))
    error, error_for = None, ""
    if request.method == "POST":
        error_for = request.POST.get("external_id", "")
        pool = next((p for p in pools if str(p.pk) == request.POST.get("pool", "")), None)
        try:
            if pool is None:
                raise ValidationFailed({"pool": ["Choose one of this offering's standby pools."]})
            server = services.server_adopt(
                actor=actor(request), offering=offering, pool=pool, external_id=request.POST.get("external_id", "")
            )
        except DomainError as exc:
            error = (
                "; ".join(m for ms in exc.errors.values() for m in ms)
                if isinstance(exc, ValidationFailed)
                else exc.message
            )
        else:
            messages.success(request, f"{server.name} adopted as a standby server of {pool.profile.name}.")
            return redirect("provisioning:offering_adopt", pk=offering.pk)
    cloud_error = None
    try:
        listed = driver_for(offering.cloud).list_project_servers()
    except CloudError as exc:
        listed, cloud_error = [], exc.message
    tracked = set(
        Server.objects.filter(cloud=offering.cloud, state__in=LIVE_STATES, external_id__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    untracked = [s for s in listed if s.id not in tracked and s.status != "DELETED"]
    if error_for not in {s.id for s in untracked}:
        error_for = ""  # the refusal is shown above the table (the server is no longer listed)
    return render(
        request,
        "provisioning/offering_adopt.html",
        {
            "offering": offering,
            "pools": pools,
            "servers": untracked,
            "cloud_error": cloud_error,
            "error": error,
            "error_for": error_for,
            "warning": ADOPT_WARNING,
        },
        status=400 if error else 200,
    )
