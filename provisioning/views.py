"""Portal pages of provisioning: how the renter connects to a booking's server, its console log,
changing its profile, and the owner's standby servers (the pool setting, the servers, adopting the
project's existing servers). The console is the renter's (and staff's) only: it can print what the
renter's user-data did, so the offering's owner never sees it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import actor
from marketplace.lib import clock
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
from scheduling.models import FINAL_STATES, Booking, BookingState

# While a booking is in one of these states its usage charts refresh themselves.
USAGE_LIVE_STATES = (BookingState.PROVISIONING, BookingState.RUNNING, BookingState.NOTICE)


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
            live | usage_context(booking) | {"profiles": [p.profile for p in profiles]},
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


def usage_context(booking: Booking) -> dict[str, Any]:
    """What templates/provisioning/_usage.html needs: the usage, its charts' rows and specs (labels in
    the viewer's zone), and whether they refresh (only while the booking runs)."""
    usage = selectors.usage_for_booking(booking)
    rows = selectors.usage_chart_rows(usage, timezone.get_current_timezone())
    return {
        "usage": usage,
        "usage_rows": rows,
        "usage_charts": [(m, selectors.usage_chart(rows, m)) for m in selectors.USAGE_METRICS],
        "usage_live": booking.state in USAGE_LIVE_STATES,
    }


@login_required
@require_GET
def booking_usage_json(request: HttpRequest, booking_id: int) -> HttpResponse:
    """One usage chart's spec (``?metric=`` cpu, the default, memory, disk or network), for the charts'
    refresh; the renter's and staff's with provisioning.view_server (as the console), 404 for others."""
    booking = _console_booking(request, booking_id)
    metric = request.GET.get("metric") or "cpu"
    if metric not in selectors.USAGE_METRICS:
        return JsonResponse({"error": f"metric must be one of {', '.join(selectors.USAGE_METRICS)}."}, status=400)
    usage = selectors.usage_for_booking(booking)
    return JsonResponse(
        selectors.usage_chart(selectors.usage_chart_rows(usage, timezone.get_current_timezone()), metric)
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


UTILISATION_PERIODS = {
    "day": "Last 24 hours, per hour",
    "week": "Last 7 days, per day",
    "month": "Last 31 days, per day",
}


def _utilisation_buckets(period: str) -> list[tuple[str, datetime, datetime]]:
    """(label, start, end) of the period's buckets, in the viewer's zone, the current one last."""
    tz = timezone.get_current_timezone()
    now = clock.now()
    if period == "day":
        top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        starts = [top - timedelta(hours=h) for h in range(24, 0, -1)]
        return [(f"{a.astimezone(tz):%d %H:%M}", a, a + timedelta(hours=1)) for a in starts]
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=d) for d in range(7 if period == "week" else 31)][::-1]
    return [
        (
            d.isoformat(),
            datetime.combine(d, time.min, tzinfo=tz),
            datetime.combine(d + timedelta(days=1), time.min, tzinfo=tz),
        )
        for d in days
    ]


@owner_required
@require_GET
def offering_utilisation(request: HttpRequest, pk: int) -> HttpResponse:
    """How much of the offering's capacity was booked, held by standby servers, or idle, over time."""
    offering = _owned_offering(request, pk)
    period = request.GET.get("period", "week")
    if period not in UTILISATION_PERIODS:
        period = "week"
    buckets = _utilisation_buckets(period)
    shares = selectors.offering_utilisation(offering, [(a, b) for _, a, b in buckets])
    spec = selectors.utilisation_chart([label for label, _, _ in buckets], shares)
    return render(
        request,
        "provisioning/offering_utilisation.html",
        {
            "offering": offering,
            "period": period,
            "periods": UTILISATION_PERIODS,
            "spec": spec,
            "rows": list(zip(spec["labels"], *(d["data"] for d in spec["datasets"]), strict=True)),
        },
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
