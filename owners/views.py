"""The owner portal: clouds, offerings, windows, profiles and pricing. Every page calls a service."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.requests import actor
from marketplace.lib.errors import DomainError
from marketplace.lib.forms import apply_domain_error
from owners import selectors, services
from owners.forms import CloudForm, OfferingForm, PricingForm, ProfileForm, WindowForm
from owners.models import AvailabilityWindow, Offering, PricingPolicy


def owner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page) and an owner (else 403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        if not (request.user.is_owner or request.user.is_staff):  # type: ignore[union-attr]
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
@require_POST
def cloud_delete(request: HttpRequest, pk: int) -> HttpResponse:
    cloud = get_object_or_404(selectors.clouds_for(actor(request)), pk=pk)
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
        },
    )


@owner_required
def offering_edit(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
    form = OfferingForm(request.POST or None, instance=offering, clouds=selectors.clouds_for(actor(request)))
    if request.method == "POST" and form.is_valid():
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
            return redirect("owners:offering_detail", pk=offering.pk)
    return render(request, "form.html", {"form": form, "title": f"Edit {offering.name}"})


@owner_required
@require_POST
def offering_status(request: HttpRequest, pk: int) -> HttpResponse:
    offering = _offering(request, pk)
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
@require_POST
def window_remove(request: HttpRequest, pk: int, window_id: int) -> HttpResponse:
    offering = _offering(request, pk)
    window = get_object_or_404(AvailabilityWindow, pk=window_id, offering=offering)
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
    form = PricingForm(request.POST or None, initial=initial, profiles=profiles)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        profile = data.pop("profile")
        try:
            services.pricing_policy_set(actor=actor(request), offering=offering, profile=profile, **data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, f"Price for {profile.name} saved.")
            return redirect("owners:offering_detail", pk=offering.pk)
    return render(request, "form.html", {"form": form, "title": f"Pricing on {offering.name}"})


@owner_required
@require_POST
def pricing_delete(request: HttpRequest, pk: int, policy_id: int) -> HttpResponse:
    offering = _offering(request, pk)
    policy = get_object_or_404(PricingPolicy, pk=policy_id, offering=offering)
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
