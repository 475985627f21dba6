"""The market pages of the user portal (search, quote, buy, bid, my bookings) and the owner portal
(bookings on my offerings, auction rounds, preempt). Every action calls a service.

What costs money asks first: a GET on buy, release or change profile shows what it will charge (or
return), from the service's own preview, with a button that POSTs the action; a POST acts and says
what it charged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.lib import clock
from marketplace.lib.client_ip import client_address
from marketplace.lib.durations import COMMON_LENGTHS, format_length
from marketplace.lib.errors import DomainError, ValidationFailed
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.idempotency import idempotent_view
from marketplace.lib.inputs import local_next
from marketplace.lib.money import Money, MoneyError, format_minor, to_minor
from marketplace.lib.staff import is_owner_or_superuser
from owners import selectors as owner_selectors
from owners.models import Offering, PricingPolicy
from scheduling import selectors, services
from scheduling.errors import ExtensionUnavailable, NobodyCouldLogIn, QuoteExpired
from scheduling.forms import ExtendForm, PreemptForm, SliceRequestForm, SliceSearchForm
from scheduling.models import FINAL_STATES, Booking, BookingState, Quote
from scheduling.services import (
    CostPreview,
    NoticePlan,
    booking_change_profile_preview,
    booking_release_preview,
    booking_request_preview,
    preemption_preview,
    release_cost,
)
from scheduling.services.access import has_ssh_key
from scheduling.slices import SliceKey, decode_slice_id


def _utc(value):  # type: ignore[no-untyped-def]
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = local_next(request.POST.get("next") or request.GET.get("next"), request.get_host())
    if target:
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


def _default_range(request: HttpRequest) -> str:
    """The renter's current address as a one-address range, the SSH default ("" when unknown)."""
    address = client_address(request)
    return f"{address}/{address.max_prefixlen}" if address is not None else ""


def _buy_defaults(request: HttpRequest, images: list[str]) -> dict[str, str]:
    """What the buy form starts with: the renter's default image (when this offering allows it, else its
    first) and SSH ranges (else the address they browse from), from their settings."""
    mine = selectors.purchase_defaults(request.user, images)  # type: ignore[arg-type]
    image = mine.image or (images[0] if images else "")
    return {"ssh_cidrs": ", ".join(mine.ssh_cidrs) or _default_range(request), "image": image}


def _buy_page(
    request: HttpRequest, slice_id: str, form: SliceRequestForm, preview: CostPreview, *, status: int = 200
) -> HttpResponse:
    """The buy form: the price (from the service's preview), the image, user-data and SSH ranges."""
    back = local_next(request.POST.get("next") or request.GET.get("next"), request.get_host()) or ""
    bidding = preview.action == "bid"
    # A bid's cost follows the amount typed: it is in the bid preview, which updates as the renter types.
    lines = (
        [preview.note] if bidding else [f"This slice costs {_amount(preview.charge, preview.currency)}.", preview.note]
    )
    if bidding:
        button = "Place the bid"
    else:
        button = f"Buy for {_amount(preview.charge, preview.currency)}"
    return render(
        request,
        "scheduling/buy.html",
        {
            "title": "Buy this slice?" if preview.action == "buy" else "Bid for this slice?",
            "preview": preview,
            "lines": [line for line in lines if line],
            "form": form,
            "action": reverse("scheduling:slice_request", args=[slice_id]),
            "hidden": {
                k: v
                for k, v in (
                    ("duration", form["duration"].value()),
                    ("quote", form["quote"].value()),
                    ("bid", None if bidding else form["bid"].value()),
                    ("next", back),
                )
                if v
            },
            "button": button,
            "cancel": back or reverse("scheduling:slices"),
            "has_key": has_ssh_key(request.user),  # type: ignore[arg-type]
            # An auction's bid is typed on the form, with how it would have fared in recent rounds.
            "bid_preview": _bid_preview(decode_slice_id(slice_id), form["bid"].value()) if bidding else None,
            "bid_cost": _bid_cost(preview) if bidding else "",
            "bid_preview_url": reverse("scheduling:slice_bid_preview", args=[slice_id]) if bidding else "",
        },
        status=status,
    )


# Refusals shown on the buy form itself (the renter can fix them there); others go back with a message.
_FORM_FIELDS = ("image", "user_data", "ssh_cidrs", "duration", "bid")


def _on_form(exc: DomainError) -> bool:
    if isinstance(exc, NobodyCouldLogIn):
        return True
    if isinstance(exc, ValidationFailed):
        return any(field in _FORM_FIELDS for field in exc.errors)
    return exc.field in _FORM_FIELDS


def _form_preview(request: HttpRequest, slice_id: str, d: dict[str, Any], images: list[str]) -> CostPreview | None:
    """The price for the buy form (None when the slice itself is refused: then a message says why)."""
    image = d.get("image") if d.get("image") in images else (images[0] if images else d.get("image"))
    try:
        return booking_request_preview(
            actor=request.user,  # type: ignore[arg-type]
            slice_id=slice_id,
            duration=d.get("duration"),
            bid=d.get("bid"),
            quote_id=d.get("quote") or None,
            image=image or None,
            require_login=False,  # the form asks for user-data; the buy itself checks somebody can log in
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return None


@login_required
@require_http_methods(["GET", "POST"])
@idempotent_view
def slice_request(request: HttpRequest, slice_id: str) -> HttpResponse:
    """GET: what buying the slice costs, and the buy form (image, user-data, SSH ranges); POST: buy (or bid).
    A refusal the renter can fix (no login possible, a bad image, user-data or range) shows on the form."""
    images = selectors.slice_images(slice_id)
    initial = _buy_defaults(request, images)
    if request.method == "GET":
        given = SliceRequestForm(request.GET)
        if not given.is_valid():
            messages.error(request, "Check the duration and bid.")
            return _back(request, "scheduling:slices")
        asked = {k: v for k, v in request.GET.items() if k in ("duration", "quote", "image", "bid")}
        preview = _form_preview(request, slice_id, given.cleaned_data, images)
        if preview is None:
            return _back(request, "scheduling:slices")
        return _buy_page(request, slice_id, SliceRequestForm(initial={**initial, **asked}, images=images), preview)
    form = SliceRequestForm(request.POST, images=images, initial=initial)
    if not form.is_valid():
        if any(f in form.errors for f in ("user_data", "ssh_cidrs", "image")):
            preview = _form_preview(request, slice_id, form.cleaned_data, images)
            if preview is not None:
                return _buy_page(request, slice_id, form, preview, status=400)
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
            image=d.get("image") or initial["image"] or None,
            user_data=d.get("user_data") or None,
            ssh_cidrs=d.get("ssh_cidrs") or initial["ssh_cidrs"] or None,
        )
    except QuoteExpired as exc:
        # The engine has issued a fresh quote: show it, with one click to buy at it.
        fresh = Quote.objects.filter(pk=exc.extra.get("quote", {}).get("id"), renter_id=request.user.pk).first()
        if fresh is None:
            messages.error(request, exc.message)
            return _back(request, "scheduling:slices")
        return _quote_page(request, fresh, slice_id, expired=exc.message)
    except DomainError as exc:
        if _on_form(exc):
            preview = _form_preview(request, slice_id, d, images)
            if preview is not None:
                apply_domain_error(form, exc)
                return _buy_page(request, slice_id, form, preview, status=400)
        messages.error(request, exc.message)
        return _back(request, "scheduling:slices")
    if booking.state == "requested":
        messages.success(request, f"Bid {booking.pk} placed; it will be cleared when bidding closes.")
        return redirect("scheduling:my_bookings")
    messages.success(
        request,
        f"Booking {booking.pk} is {booking.state}: {_amount(booking.total_price, booking.currency)} is held for it "
        "and charged for the time used when it ends.",
    )
    return redirect("provisioning:booking_server", booking_id=booking.pk)  # its page follows it live


def _amount(amount: int | None, currency: str) -> str:
    return "what billing works out" if amount is None else format_minor(amount, currency)


def _confirm(
    request: HttpRequest,
    preview: CostPreview,
    *,
    title: str,
    lines: list[str],
    action: str,
    hidden: dict[str, object],
    button: str,
    cancel: str = "",
) -> HttpResponse:
    """The confirmation page: what the action costs (from its preview), then one POST that acts."""
    return render(
        request,
        "scheduling/confirm.html",
        {
            "title": title,
            "preview": preview,
            "lines": [line for line in lines if line],
            "action": action,
            "hidden": hidden,
            "button": button,
            "cancel": cancel or reverse("scheduling:my_bookings"),
        },
    )


def _quote_page(request: HttpRequest, quote: Quote, slice_id: str, *, expired: str = "") -> HttpResponse:
    seconds = max(int((quote.expires_at - clock.now()).total_seconds()), 0)
    duration = int((quote.ends_at - quote.starts_at).total_seconds())
    return render(
        request,
        "scheduling/quote.html",
        {"quote": quote, "slice_id": slice_id, "duration": duration, "seconds_left": seconds, "expired": expired},
    )


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
    return _quote_page(request, quote, slice_id)


def _with_cost(bookings: Iterable[Booking]) -> list[tuple[Booking, selectors.RunningCost | None]]:
    """Each booking with its cost so far while it runs. What an ended one was charged is on its own page
    (asking billing for each of up to 200 rows would cost several queries a row)."""
    now = clock.now()
    return [
        (b, selectors.booking_running_cost(b, now) if b.state in selectors.METERED_STATES else None) for b in bookings
    ]


@login_required
def my_bookings(request: HttpRequest) -> HttpResponse:
    """The renter's bookings and bids; each row still moving polls its own fragment (booking_status)."""
    mine = selectors.bookings_for_renter(request.user).order_by("-id")  # type: ignore[arg-type]
    return render(
        request,
        "scheduling/my_bookings.html",
        {
            "bookings": _with_cost(mine.filter(auction_round__isnull=True)[:200]),
            "bids": _with_cost(mine.filter(auction_round__isnull=False)[:200]),
            "final_states": FINAL_STATES,
        },
    )


@login_required
@require_GET
def booking_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One row of My bookings (a booking's or a bid's), as htmx polls it: it polls again until the booking
    reaches a final state. Another renter's booking is 404, as on every renter page."""
    booking = get_object_or_404(selectors.bookings_for_renter(request.user), pk=pk)  # type: ignore[arg-type]
    [(b, cost)] = _with_cost([booking])
    template = "scheduling/_bid_row.html" if b.auction_round_id else "scheduling/_booking_row.html"
    return render(request, template, {"b": b, "cost": cost, "final_states": FINAL_STATES})


@login_required
@require_http_methods(["GET", "POST"])
@idempotent_view
def booking_release(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what releasing now charges and returns, and a button to release; POST: release."""
    if request.method == "GET":
        try:
            preview = booking_release_preview(actor=request.user, booking_id=pk)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("scheduling:my_bookings")
        if preview.action == "withdraw":
            lines = [f"Withdraw bid {pk}? A bid costs nothing: nothing is charged."]
            title, button = f"Withdraw bid {pk}?", "Withdraw the bid"
        else:
            cur = preview.currency
            if preview.charge is None or preview.refund is None:  # no billing to ask (the engine alone)
                lines = [f"Releasing booking {pk} now: billing charges it for the time used."]
            else:
                lines = [
                    f"Releasing booking {pk} now charges {format_minor(preview.charge, cur)} of the "
                    f"{format_minor(preview.held, cur)} held for it.",
                    f"{format_minor(preview.refund, cur)} returns to you.",
                ]
            pay = "" if preview.charge is None else f" and pay {format_minor(preview.charge, cur)}"
            title, button = f"Release booking {pk}?", f"Release{pay}"
        return _confirm(
            request,
            preview,
            title=title,
            lines=lines,
            action=reverse("scheduling:booking_release", args=[pk]),
            hidden={},
            button=button,
        )
    try:
        booking = services.booking_release(actor=request.user, booking_id=pk)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("scheduling:my_bookings")
    if booking.auction_round_id and booking.confirmed_at is None:
        messages.success(request, f"Bid {booking.pk} withdrawn; nothing is charged.")
    else:
        messages.success(
            request,
            f"Booking {booking.pk} released: {_charged(release_cost(booking, booking.ended_at or clock.now()))}",
        )
    return redirect("scheduling:my_bookings")


def _charged(cost: CostPreview) -> str:
    if cost.charge is None or cost.refund is None:
        return "billing charges it for the time used."
    cur = cost.currency
    return f"{format_minor(cost.charge, cur)} charged, {format_minor(cost.refund, cur)} returned to you."


@login_required
def booking_change_profile(request: HttpRequest, pk: int) -> HttpResponse:
    """What changing the booking's profile costs, and a button that asks for it (the resize, which
    provisioning does: its form posts there)."""
    try:
        profile_id = int(request.GET.get("profile", ""))
    except ValueError:
        messages.error(request, "Choose a profile.")
        return redirect("provisioning:booking_server", booking_id=pk)
    try:
        preview = booking_change_profile_preview(actor=request.user, booking_id=pk, profile_id=profile_id)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("provisioning:booking_server", booking_id=pk)
    cur = preview.currency
    before, after, extra = preview.price_before or 0, preview.price_after or 0, preview.extra or 0
    change = f"{format_minor(extra, cur)} more" if extra >= 0 else f"{format_minor(-extra, cur)} less"
    lines = [
        f"Booking {pk}'s price goes from {format_minor(before, cur)} to {format_minor(after, cur)} ({change}).",
        preview.note,
        f"Run to its end, it is charged {_amount(preview.charge, cur)}.",
    ]
    return _confirm(
        request,
        preview,
        title=f"Change booking {pk}'s profile?",
        lines=lines,
        action=reverse("provisioning:booking_resize", kwargs={"booking_id": pk}),
        hidden={"profile": profile_id},
        button=f"Change profile: {format_minor(after, cur)} in all",
        cancel=reverse("provisioning:booking_server", kwargs={"booking_id": pk}),
    )


@login_required
@require_http_methods(["GET", "POST"])
@idempotent_view
def booking_extend(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: how much longer (a form), then with ``duration`` what it costs and a button that extends;
    POST: extend. A refusal shows on the form; when only part can be granted, the longest is offered
    as a one-click choice."""
    try:
        booking = selectors.booking_for_renter(request.user, pk)  # type: ignore[arg-type]
    except DomainError as exc:
        raise Http404(exc.message) from exc
    data = request.POST if request.method == "POST" else (request.GET if "duration" in request.GET else None)
    form = ExtendForm(data)
    preview = None
    longest = 0
    if form.is_bound and form.is_valid():
        seconds = form.cleaned_data["duration"]
        try:
            ext = services.booking_extend(
                actor=request.user, booking_id=pk, seconds=seconds, dry_run=request.method != "POST"
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
            if isinstance(exc, ExtensionUnavailable):
                longest = exc.longest_seconds
        else:
            if request.method == "POST":
                messages.success(
                    request,
                    f"Booking {pk} extended by {ext.seconds} seconds, to {clock.shown(ext.booking.ends_at)}: "
                    f"{format_minor(ext.price, ext.booking.currency)} more, "
                    f"{format_minor(int(ext.booking.total_price or 0), ext.booking.currency)} in all.",
                )
                return redirect("scheduling:my_bookings")
            preview = ext
    return render(
        request,
        "scheduling/extend.html",
        {
            "booking": booking,
            "form": form,
            "preview": preview,
            "longest": longest,
            "lengths": [format_length(s) for s in COMMON_LENGTHS if s % booking.grid_seconds == 0],
        },
    )


def _owner(request: HttpRequest) -> None:
    if not is_owner_or_superuser(request.user):
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


PREVIEW_ROWS = 50  # bookings listed one by one on a preemption's confirmation page


def _preempt_confirm(
    request: HttpRequest, form: PreemptForm, *, title: str, items: list[str], lines: list[str], status: int = 200
) -> HttpResponse:
    """The confirmation page of a preemption: what will happen, the notice and reason as typed, a confirm button."""
    return render(
        request,
        "scheduling/owner_preempt_confirm.html",
        {"title": title, "items": items, "lines": lines, "form": form, "action": request.path},
        status=status,
    )


def _notice_words(plan: NoticePlan) -> str:
    if plan.runs_to_end:
        return f"runs to its scheduled end at {clock.shown(plan.deadline)} (it has less left than the notice)"
    if plan.notice_seconds == 0:
        return "ends now, without notice"
    return f"ends as preempted at {clock.shown(plan.deadline)} ({plan.notice_seconds:,} s notice)"


def _preempt(request: HttpRequest, *, booking=None, offering=None) -> HttpResponse:  # type: ignore[no-untyped-def]
    """Preempt one booking or every live booking of an offering; only a confirmed POST acts.

    An unconfirmed POST (the market page's button) shows what will happen, from the service's own
    preview; refusals (a notice above the operator's maximum) show on that page, the input kept.
    """
    form = PreemptForm(request.POST)
    target = booking.offering if booking is not None else offering
    title = f"Preempt booking {booking.pk} on {target.name}?" if booking is not None else f"Preempt {target.name}?"
    if not form.is_valid():
        return _preempt_confirm(request, form, title=title, items=[], lines=[])
    notice = form.cleaned_data.get("notice_seconds")
    reason = form.cleaned_data.get("reason") or ""
    try:
        plans = preemption_preview(actor=request.user, booking=booking, offering=offering, notice_seconds=notice)
    except DomainError as exc:
        if isinstance(exc, ValidationFailed):
            apply_domain_error(form, exc)
            return _preempt_confirm(request, form, title=title, items=[], lines=[])
        messages.error(request, exc.message)
        return redirect("scheduling:owner_market")
    if request.POST.get("confirm") != "yes":
        items = [f"Booking {p.booking_id} {_notice_words(p)}." for p in plans[:PREVIEW_ROWS]]
        if len(plans) > PREVIEW_ROWS:
            items.append(f"… and {len(plans) - PREVIEW_ROWS} more booking(s), with the same notice.")
        lines = [
            f"{len(plans)} live booking(s) will be given notice; each renter is told at once."
            if booking is None
            else "The renter is told at once.",
            "A renter given less notice than the offering promises is credited from your earnings.",
        ]
        return _preempt_confirm(request, form, title=title, items=items, lines=lines)
    try:
        if booking is not None:
            b = services.booking_preempt(actor=request.user, booking=booking, notice_seconds=notice, reason=reason)
            messages.success(
                request,
                f"Booking {b.pk}: notice given until {clock.shown(b.preempt_deadline)}."
                if b.state == "notice"
                else f"Booking {b.pk} preempted.",
            )
        else:
            count = services.offering_preempt_all(
                actor=request.user, offering=offering, notice_seconds=notice, reason=reason
            )
            messages.success(request, f"{count} booking(s) on {offering.name} given notice.")
    except ValidationFailed as exc:
        apply_domain_error(form, exc)
        return _preempt_confirm(request, form, title=title, items=[], lines=[])
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("scheduling:owner_market")


@login_required
@require_POST
def owner_preempt(request: HttpRequest, pk: int) -> HttpResponse:
    _owner(request)
    booking = get_object_or_404(selectors.bookings_for_owner(request.user), pk=pk)  # type: ignore[arg-type]
    return _preempt(request, booking=booking)


@login_required
@require_POST
def owner_preempt_offering(request: HttpRequest, pk: int) -> HttpResponse:
    _owner(request)
    # Another owner's offering is a 404, as for one booking: nobody learns which offerings exist.
    user: Any = request.user
    offerings = Offering.objects.all() if user.is_superuser else owner_selectors.offerings_for_owner(user)
    offering = get_object_or_404(offerings, pk=pk)
    return _preempt(request, offering=offering)


# ---- buy the next slice, and the bid preview --------------------------------------------------------

NEXT_SLICE_STATES = ("confirmed", "provisioning", "running")  # a booking whose end is still ahead


@login_required
@require_GET
def booking_buy_next(request: HttpRequest, pk: int) -> HttpResponse:
    """The slice that starts when this booking ends (same offering, profile and length): its buy page,
    the one a search leads to, at the price in force (an auction's starts with the booking's own bid)."""
    try:
        booking = selectors.booking_for_renter(request.user, pk)  # type: ignore[arg-type]
    except DomainError as exc:
        raise Http404(exc.message) from exc
    if booking.state not in NEXT_SLICE_STATES:
        messages.error(request, f"Booking {pk} is {booking.state}: there is no next slice to buy after it.")
        return redirect("scheduling:my_bookings")
    query = {"next": reverse("scheduling:my_bookings")}
    if booking.pricing_model == "auction":
        unit = booking.bid_amount or booking.unit_price or 0
        query["bid"] = str(Money(int(unit), booking.currency).major())
    target = reverse("scheduling:slice_request", args=[selectors.next_slice_id(booking)])
    return redirect(f"{target}?{urlencode(query)}")


@login_required
@require_GET
def slice_bid_preview(request: HttpRequest, slice_id: str) -> HttpResponse:
    """The bid form's preview (an htmx fragment): how the typed bid would have fared in recent rounds."""
    try:
        key = decode_slice_id(slice_id)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    bid, duration = request.GET.get("bid"), request.GET.get("duration")
    preview = _bid_preview(key, bid)
    cost = ""
    reserve = (
        PricingPolicy.objects.filter(offering_id=key.offering_id, profile_id=key.profile_id)
        .values_list("reserve_price", flat=True)
        .first()
    )
    if preview.bid is not None and reserve and preview.bid < reserve:
        cost = f"Below the reserve: a bid must be at least {_amount(reserve, preview.currency)} per grid unit."
    elif preview.bid is not None:
        try:
            cost = _bid_cost(
                booking_request_preview(
                    actor=request.user,  # type: ignore[arg-type]
                    slice_id=key,
                    duration=int(duration) if duration and duration.isdigit() and len(duration) < 10 else None,
                    bid=bid,
                    require_login=False,
                )
            )
        except DomainError as exc:  # below the reserve, a length the offering refuses: say so here
            cost = exc.message
    return render(request, "scheduling/_bid_preview.html", {"bid_preview": preview, "bid_cost": cost})


def _bid_cost(preview: CostPreview) -> str:
    """The bid form's cost line: the most the typed bid can cost (what is held for it)."""
    if preview.charge is None:
        return ""
    return f"This bid costs at most {_amount(preview.charge, preview.currency)}, held until the round clears."


def _bid_preview(key: SliceKey, bid: object) -> selectors.BidPreview:
    """The selector's answer for a bid typed in major units (None when it is not an amount)."""
    currency = (
        PricingPolicy.objects.filter(offering_id=key.offering_id, profile_id=key.profile_id)
        .values_list("currency", flat=True)
        .first()
    )
    try:
        minor = to_minor(str(bid), currency) if bid not in (None, "") and currency else None
    except MoneyError:
        minor = None
    return selectors.bid_preview(offering_id=key.offering_id, profile_id=key.profile_id, bid=minor)
