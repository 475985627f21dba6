"""The owner portal: clouds, offerings, windows, profiles and pricing. Every page calls a service.

Destructive actions (delete a cloud, retire an offering, remove a window or a price) and price
changes first answer with a confirmation page saying what will happen; they act only on a POST
that carries confirm=yes (the button on that page).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.requests import actor
from marketplace.lib.errors import DomainError
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.staff import is_owner_or_superuser
from owners import pricing, selectors, services
from owners.forms import CloudForm, OfferingForm, PricingForm, ProfileForm, WindowForm
from owners.models import AvailabilityWindow, Offering, PricingPolicy

CONFIRM = "confirm"


def confirmed(request: HttpRequest) -> bool:
    """A POST from a confirmation page's button (anything else only shows the page)."""
    return request.method == "POST" and request.POST.get(CONFIRM) == "yes"


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    lines: list[str],
    cancel_url: str,
    confirm_label: str,
    items: list[str] | None = None,
    carry_post: bool = True,
) -> HttpResponse:
    """The page that says what an action will do, with a button that posts it again, confirmed.

    What the owner typed (the POST) is carried in hidden fields, so confirming sends the same input.
    """
    hidden = []
    if carry_post and request.method == "POST":
        hidden = [
            (k, v) for k in request.POST if k not in ("csrfmiddlewaretoken", CONFIRM) for v in request.POST.getlist(k)
        ]
    return render(
        request,
        "owners/confirm.html",
        {
            "title": title,
            "lines": lines,
            "items": items or [],
            "hidden": hidden,
            "action": request.path,
            "cancel_url": cancel_url,
            "confirm_label": confirm_label,
        },
    )


def owner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page) and an owner (else 403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        if not is_owner_or_superuser(request.user):
            raise PermissionDenied("The owner portal is for owners.")
        return view(request, *args, **kwargs)

    return wrapper


@owner_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "owners/dashboard.html",
        {
            "clouds": selectors.clouds_for(actor(request)),
            "offerings": selectors.offerings_for_owner(actor(request)).select_related("cloud"),
            "owner_approved": services.owner_is_approved(actor(request)),
            "awaiting_approval": services.AWAITING_APPROVAL,
        },
    )


# ---- clouds ---------------------------------------------------------------------------------


@owner_required
def cloud_create(request: HttpRequest) -> HttpResponse:
    form = CloudForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            cloud = services.cloud_create(actor=actor(request), **data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, f"Cloud {cloud.name} added. Test its connection next.")
            return redirect("owners:cloud_detail", pk=cloud.pk)
    return render(request, "form.html", {"form": form, "title": "Add a cloud"})


@owner_required
def cloud_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cloud = get_object_or_404(selectors.clouds_for(actor(request)), pk=pk)
    return render(request, "owners/cloud_detail.html", {"cloud": cloud, "offerings": cloud.offerings.all()})


@owner_required
def cloud_edit(request: HttpRequest, pk: int) -> HttpResponse:
    cloud = get_object_or_404(selectors.clouds_for(actor(request)), pk=pk)
    form = CloudForm(request.POST or None, instance=cloud)
    if request.method == "POST" and form.is_valid():
        try:
            services.cloud_update(actor=actor(request), cloud=cloud, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Cloud saved.")
            return redirect("owners:cloud_detail", pk=cloud.pk)
    return render(request, "form.html", {"form": form, "title": f"Edit cloud {cloud.name}"})


@owner_required
@require_POST
def cloud_test(request: HttpRequest, pk: int) -> HttpResponse:
    cloud = get_object_or_404(selectors.clouds_for(actor(request)), pk=pk)
    services.cloud_test_connection(actor=actor(request), cloud=cloud)
    if request.headers.get("HX-Request"):
        return render(request, "owners/_cloud_status.html", {"cloud": cloud})
    return redirect("owners:cloud_detail", pk=cloud.pk)


@owner_required
def cloud_delete(request: HttpRequest, pk: int) -> HttpResponse:
    cloud = get_object_or_404(selectors.clouds_for(actor(request)), pk=pk)
    if not confirmed(request):
        offerings = cloud.offerings.count()
        return confirm_page(
            request,
            title=f"Delete the cloud {cloud.name}?",
            lines=[
                "The cloud's connection details and its encrypted credential secret are erased; this cannot be undone.",
                f"It has {offerings} offering(s): retire and remove them first, or the deletion is refused."
                if offerings
                else "No offering uses it.",
            ],
            cancel_url=reverse("owners:cloud_detail", args=[cloud.pk]),
            confirm_label="Delete the cloud",
        )
    try:
        services.cloud_delete(actor=actor(request), cloud=cloud)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("owners:cloud_detail", pk=cloud.pk)
    messages.success(request, "Cloud deleted.")
    return redirect("owners:dashboard")


# ---- offerings ------------------------------------------------------------------------------


@owner_required
def offering_create(request: HttpRequest) -> HttpResponse:
    clouds = selectors.clouds_for(actor(request))
    form = OfferingForm(request.POST or None, clouds=clouds)
    if request.method == "POST" and form.is_valid():
        try:
            offering = services.offering_create(
                actor=actor(request),
                cloud=form.cleaned_data["cloud"],
                **form.service_fields(),
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Offering created as a draft. Add prices, then publish it.")
            return redirect("owners:offering_detail", pk=offering.pk)
    return render(request, "form.html", {"form": form, "title": "New offering"})


def _offering(request: HttpRequest, pk: int) -> Offering:
    return get_object_or_404(selectors.offerings_for_owner(actor(request)).select_related("cloud"), pk=pk)


@owner_required
def offering_detail(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
    return render(
        request,
        "owners/offering_detail.html",
        {
            "offering": offering,
            "windows": offering.windows.all(),
            "policies": offering.pricing_policies.select_related("profile"),
            "window_form": WindowForm(),
            "transitions": sorted(services.OFFERING_TRANSITIONS[offering.status]),
            "owner_approved": services.owner_is_approved(offering.owner),
        },
    )


@owner_required
def offering_edit(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
    form = OfferingForm(request.POST or None, instance=offering, clouds=selectors.clouds_for(actor(request)))
    if request.method == "POST" and form.is_valid():
        old_grid, new_grid = offering.grid_seconds, form.cleaned_data.get("grid_seconds")
        policies = list(offering.pricing_policies.select_related("profile"))
        rescaled = pricing.grid_change_lines(policies, old_grid, new_grid) if new_grid and new_grid != old_grid else []
        try:
            services.offering_update(
                actor=actor(request),
                offering=offering,
                cloud=form.cleaned_data["cloud"],
                **form.service_fields(),
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Offering saved.")
            if rescaled:
                messages.info(
                    request, "Prices restated for the new grid, same price per second: " + "; ".join(rescaled) + "."
                )
            return redirect("owners:offering_detail", pk=offering.pk)
    return render(request, "form.html", {"form": form, "title": f"Edit {offering.name}"})


@owner_required
@require_POST
def offering_status(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
    wanted = request.POST.get("status")
    allowed = services.OFFERING_TRANSITIONS[offering.status]
    if wanted == Offering.Status.PAUSED and wanted in allowed and not confirmed(request):
        return confirm_page(
            request,
            title=f"Pause sales of {offering.name}?",
            lines=[
                "While paused, the offering sells nothing new: renters can neither buy nor bid on its slices.",
                "Bookings already made are not cancelled; they run to their end. Resume sales at any time.",
            ],
            cancel_url=reverse("owners:offering_detail", args=[offering.pk]),
            confirm_label="Pause sales",
        )
    if wanted == Offering.Status.RETIRED and wanted in allowed and not confirmed(request):
        return confirm_page(
            request,
            title=f"Retire {offering.name}?",
            lines=[
                "Retiring is final: the offering can never be published again and renters can no longer book it.",
                "Bookings already made are not cancelled; they run to their end at the price they were made at.",
            ],
            cancel_url=reverse("owners:offering_detail", args=[offering.pk]),
            confirm_label="Retire the offering",
        )
    try:
        services.offering_set_status(
            actor=actor(request),
            offering=offering,
            status=request.POST.get("status", ""),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Offering is now {request.POST.get('status')}.")
    return redirect("owners:offering_detail", pk=offering.pk)


@owner_required
@require_POST
def window_add(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
    form = WindowForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.window_add(actor=actor(request), offering=offering, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
    if form.errors:
        error = "; ".join(str(m) for msgs in form.errors.values() for m in msgs)
    context = {
        "offering": offering,
        "windows": offering.windows.all(),
        "window_form": form if error else WindowForm(),
        "window_error": error,
    }
    if request.headers.get("HX-Request"):
        return render(request, "owners/_windows.html", context, status=200)
    if error:
        messages.error(request, error)
    return redirect("owners:offering_detail", pk=offering.pk)


@owner_required
def window_remove(request: HttpRequest, pk: int, window_id: int) -> HttpResponse:
    offering = _offering(request, pk)
    window = get_object_or_404(AvailabilityWindow, pk=window_id, offering=offering)
    if not confirmed(request):
        last = offering.windows.count() == 1
        return confirm_page(
            request,
            title=f"Remove the window {window} ({offering.timezone}) from {offering.name}?",
            lines=[
                "Bookings already made are kept.",
                "This was the offering's only window: without windows it is sold at all hours."
                if last
                else "From now on slices in these hours are no longer sold (unless another window covers them).",
            ],
            cancel_url=reverse("owners:offering_detail", args=[offering.pk]),
            confirm_label="Remove the window",
        )
    services.window_remove(actor=actor(request), window=window)
    if request.headers.get("HX-Request"):
        return render(
            request,
            "owners/_windows.html",
            {"offering": offering, "windows": offering.windows.all(), "window_form": WindowForm()},
        )
    return redirect("owners:offering_detail", pk=offering.pk)


@owner_required
def pricing_edit(request: HttpRequest, pk: int, policy_id: int | None = None) -> HttpResponse:
    offering = _offering(request, pk)
    policy = get_object_or_404(PricingPolicy, pk=policy_id, offering=offering) if policy_id else None
    profiles = selectors.profiles_for(actor(request))
    initial = PricingForm.initial_from(policy) if policy else None
    currency = offering.pricing_policies.values_list("currency", flat=True).first()
    form = PricingForm(
        request.POST or None, initial=initial, profiles=profiles, grid_seconds=offering.grid_seconds, currency=currency
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        profile = data.pop("profile")
        existing = offering.pricing_policies.filter(profile=profile).select_related("profile").first()
        change = pricing.price_change(existing, data, offering.grid_seconds)
        if change is not None and change.changes_anything and not confirmed(request):
            # A price change is an explicit edit: old and new side by side, and what it does.
            return confirm_page(
                request,
                title=f"Change the price of {change.profile} on {offering.name}?",
                lines=[change.effect_on_bookings],
                items=[
                    f"Now: {change.old}; on release: {change.release_old}.",
                    f"New: {change.new}; on release: {change.release_new}.",
                ],
                cancel_url=reverse("owners:offering_detail", args=[offering.pk]),
                confirm_label="Change the price",
            )
        try:
            services.pricing_policy_set(actor=actor(request), offering=offering, profile=profile, **data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, f"Price for {profile.name} saved.")
            return redirect("owners:offering_detail", pk=offering.pk)
    return render(request, "form.html", {"form": form, "title": f"Pricing on {offering.name}"})


@owner_required
def pricing_delete(request: HttpRequest, pk: int, policy_id: int) -> HttpResponse:
    offering = _offering(request, pk)
    policy = get_object_or_404(PricingPolicy, pk=policy_id, offering=offering)
    if not confirmed(request):
        return confirm_page(
            request,
            title=f"Remove the price of {policy.profile.name} on {offering.name}?",
            lines=[
                f"Now: {pricing.terms_words(pricing.policy_terms(policy), offering.grid_seconds)}.",
                f"Renters can no longer book {policy.profile.name} on this offering. "
                "Bookings already made keep the price they were made at.",
            ],
            cancel_url=reverse("owners:offering_detail", args=[offering.pk]),
            confirm_label="Remove the price",
        )
    services.pricing_policy_delete(actor=actor(request), policy=policy)
    messages.success(request, "Price removed.")
    return redirect("owners:offering_detail", pk=offering.pk)


# ---- profiles -------------------------------------------------------------------------------


@owner_required
def profile_list(request: HttpRequest) -> HttpResponse:
    return render(request, "owners/profile_list.html", {"profiles": selectors.profiles_for(actor(request))})


@owner_required
def profile_create(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_create(actor=actor(request), **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Profile created.")
            return redirect("owners:profile_list")
    return render(request, "form.html", {"form": form, "title": "New custom profile"})


@owner_required
def profile_edit(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(selectors.profiles_for(actor(request)).filter(owner=actor(request)), pk=pk)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(actor=actor(request), profile=profile, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("owners:profile_list")
    return render(request, "form.html", {"form": form, "title": f"Edit profile {profile.name}"})
