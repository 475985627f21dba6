"""The market pages of the user portal (search, quote, buy, bid, my bookings) and the owner portal
(bookings on my offerings, auction rounds, preempt). Every action calls a service."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from marketplace.lib.idempotency import idempotent_view
from owners import selectors as owner_selectors
from owners.models import Offering
from scheduling import selectors, services
from scheduling.forms import PreemptForm, SliceRequestForm, SliceSearchForm
from scheduling.models import BookingState


def _utc(value):  # type: ignore[no-untyped-def]
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


@login_required
def slice_search(request: HttpRequest) -> HttpResponse:
    form = SliceSearchForm(request.GET or None)
    slices: list = []
    why = None
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        start = _utc(d.get("start")) or clock.now()
        q = selectors.SearchQuery(
            start=start,
            end=_utc(d.get("end")) or start + timedelta(days=1),
            vcpus=d.get("cpu"),
            ram_mib=int(d["ram"] * 1024) if d.get("ram") else None,
            disk_gb=d.get("disk"),
            bandwidth_mbps=d.get("bandwidth"),
            region=d.get("region") or None,
            max_price=d.get("max_price"),
            currency=d.get("currency") or None,
            duration=d.get("duration"),
            ordering=d.get("ordering") or "price",
            per_offering=d.get("per_offering") or 3,
            offering_id=d.get("offering"),
            profile_id=d.get("profile"),
        )
        try:
            slices = selectors.slices_search(user=request.user, q=q, limit=100)  # type: ignore[arg-type]
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            why = None if slices else selectors.explain_empty(q)
    return render(request, "scheduling/slices.html", {"form": form, "slices": slices, "why": why})


@login_required
@require_POST
@idempotent_view
def slice_request(request: HttpRequest, slice_id: str) -> HttpResponse:
    form = SliceRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the duration and bid.")
        return _back(request, "scheduling:slices")
    d = form.cleaned_data
    try:
        booking = services.booking_request(
            actor=request.user,  # type: ignore[arg-type]
            slice_id=slice_id,
            duration=d.get("duration"),
            bid=d.get("bid"),
            quote_id=d.get("quote") or None,
            image=d.get("image") or None,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(request, "scheduling:slices")
    if booking.state == "requested":
        messages.success(request, f"Bid {booking.pk} placed; it will be cleared when bidding closes.")
    else:
        messages.success(request, f"Booking {booking.pk} is {booking.state}.")
    return redirect("scheduling:my_bookings")


@login_required
@require_POST
def slice_quote(request: HttpRequest, slice_id: str) -> HttpResponse:
    duration = request.POST.get("duration")
    try:
        quote = services.quote_create(
            actor=request.user,  # type: ignore[arg-type]
            slice_id=slice_id,
            duration=int(duration) if duration else None,
        )
    except (DomainError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "Give the duration in seconds."))
        return _back(request, "scheduling:slices")
    return render(request, "scheduling/quote.html", {"quote": quote, "slice_id": slice_id, "duration": duration or ""})


@login_required
def my_bookings(request: HttpRequest) -> HttpResponse:
    mine = selectors.bookings_for_renter(request.user).order_by("-id")  # type: ignore[arg-type]
    return render(
        request,
        "scheduling/my_bookings.html",
        {
            "bookings": mine.filter(auction_round__isnull=True)[:200],
            "bids": mine.filter(auction_round__isnull=False)[:200],
            "notifications": selectors.notifications_for(request.user)[:50],  # type: ignore[arg-type]
        },
    )


@login_required
@require_POST
@idempotent_view
def booking_release(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        booking = services.booking_release(actor=request.user, booking_id=pk)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Booking {booking.pk} released." if not booking.auction_round_id else f"Bid {booking.pk} withdrawn.",
        )
    return redirect("scheduling:my_bookings")


def _owner(request: HttpRequest) -> None:
    if not (request.user.is_owner or request.user.is_staff):  # type: ignore[union-attr]
        raise PermissionDenied("The owner portal is for owners.")


@login_required
def owner_market(request: HttpRequest) -> HttpResponse:
    _owner(request)
    bookings = selectors.bookings_for_owner(request.user).order_by("-id")  # type: ignore[arg-type]
    state = request.GET.get("state") or ""
    if state:
        bookings = bookings.filter(state=state)
    return render(
        request,
        "scheduling/owner_market.html",
        {
            "bookings": bookings[:200],
            "rounds": selectors.rounds_for_owner(request.user).order_by("-id")[:100],  # type: ignore[arg-type]
            "offerings": owner_selectors.offerings_for_owner(request.user).exclude(status="retired").order_by("name"),  # type: ignore[arg-type]
            "form": PreemptForm(),
            "state": state,
            "states": [s.value for s in BookingState],
        },
    )


@login_required
@require_POST
def owner_preempt(request: HttpRequest, pk: int) -> HttpResponse:
    _owner(request)
    booking = get_object_or_404(selectors.bookings_for_owner(request.user), pk=pk)  # type: ignore[arg-type]
    form = PreemptForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The notice must be zero or more seconds.")
        return redirect("scheduling:owner_market")
    try:
        b = services.booking_preempt(
            actor=request.user,
            booking=booking,
            notice_seconds=form.cleaned_data.get("notice_seconds"),
            reason=form.cleaned_data.get("reason") or "",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Booking {b.pk}: notice given until {b.preempt_deadline:%Y-%m-%d %H:%M:%S} UTC."
            if b.state == "notice"
            else f"Booking {b.pk} preempted.",
        )
    return redirect("scheduling:owner_market")


@login_required
@require_POST
def owner_preempt_offering(request: HttpRequest, pk: int) -> HttpResponse:
    _owner(request)
    offering = get_object_or_404(Offering, pk=pk)
    form = PreemptForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The notice must be zero or more seconds.")
        return redirect("scheduling:owner_market")
    try:
        count = services.offering_preempt_all(
            actor=request.user,
            offering=offering,
            notice_seconds=form.cleaned_data.get("notice_seconds"),
            reason=form.cleaned_data.get("reason") or "",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} booking(s) on {offering.name} given notice.")
    return redirect("scheduling:owner_market")
