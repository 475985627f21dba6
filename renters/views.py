"""The user portal: browse published offerings, manage SSH keys, the spend limit and booking defaults."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.requests import actor
from marketplace.lib.errors import DomainError
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.money import Money, MoneyError, to_minor
from owners import selectors as catalogue
from owners.models import Offering
from renters import selectors, services
from renters.forms import DefaultsForm, OfferingFilterForm, SpendLimitForm, SSHKeyForm


def offering_browse(request: HttpRequest) -> HttpResponse:
    form = OfferingFilterForm(request.GET or None)
    offerings: Iterable[Offering] = catalogue.published_offerings()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        max_price = None
        if data.get("max_price") is not None:
            try:
                max_price = to_minor(data["max_price"], data["currency"])
            except MoneyError as exc:
                form.add_error("max_price", str(exc))
        if not form.errors:
            offerings = catalogue.published_offerings(
                vcpus=data.get("cpu"),
                ram_mib=int(data["ram"] * 1024) if data.get("ram") else None,
                disk_gb=data.get("disk"),
                bandwidth_mbps=data.get("bandwidth"),
                region=data.get("region") or None,
                max_price=max_price,
                currency=data.get("currency") or None,
            )
            if data.get("available_from") and data.get("available_to"):
                offerings = [
                    o
                    for o in offerings
                    if catalogue.offering_open_during(o, data["available_from"], data["available_to"])
                ]
    template = "renters/_offering_results.html" if request.headers.get("HX-Request") else "renters/offering_browse.html"
    return render(request, template, {"form": form, "offerings": offerings, "regions": catalogue.regions()})


def offering_detail(request: HttpRequest, pk: int) -> HttpResponse:
    offering = get_object_or_404(catalogue.published_offerings(), pk=pk)
    # What the owner's standby servers hold back from sale (they make slices start at once).
    standby = sum(offering.standby_pools.values_list("size", flat=True))
    return render(
        request,
        "renters/offering_detail.html",
        {"offering": offering, "standby_servers": standby, "sellable": offering.sellable_capacity()},
    )


@login_required
def ssh_keys(request: HttpRequest) -> HttpResponse:
    form = SSHKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ssh_key_add(actor=actor(request), **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Key added.")
            return redirect("renters:ssh_keys")
    return render(request, "renters/ssh_keys.html", {"form": form, "keys": actor(request).ssh_keys.all()})


@login_required
@require_POST
def ssh_key_remove(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.ssh_key_remove(actor=actor(request), key_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("renters:ssh_keys")


def _defaults_form(user: User, data: object = None) -> DefaultsForm:
    current = selectors.renter_defaults(user)
    images = selectors.offered_images()
    if current.image and current.image not in images:  # no longer offered: still shown, as it is saved
        images.insert(0, current.image)
    keys = [(k.pk, f"{k.name} ({k.fingerprint})") for k in user.ssh_keys.order_by("name")]
    initial = {"image": current.image, "ssh_key": current.ssh_key_id or "", "ssh_cidrs": ", ".join(current.ssh_cidrs)}
    return DefaultsForm(data, images=images, keys=keys, initial=initial)


@login_required
def renter_settings(request: HttpRequest) -> HttpResponse:
    """The renter's spend limit (renters.services.renter_settings_update) and the defaults of their new
    bookings (renters.services.renter_defaults_update): two forms, each with its own button."""
    user = actor(request)
    current = selectors.renter_settings_of(user)
    initial: dict[str, object] = {"currency": current.currency if current else "USD"}
    if current is not None and current.spend_limit is not None:
        initial["spend_limit"] = Money(current.spend_limit, current.currency).major()
    posted = (request.POST.get("section") or "limit") if request.method == "POST" else None
    form = SpendLimitForm(request.POST if posted == "limit" else None, initial=initial)
    defaults = _defaults_form(user, request.POST if posted == "defaults" else None)
    if posted == "limit" and form.is_valid():
        data = form.cleaned_data
        try:
            limit = None if data["spend_limit"] is None else to_minor(data["spend_limit"], data["currency"])
        except MoneyError as exc:
            form.add_error("spend_limit", str(exc))
        else:
            try:
                services.renter_settings_update(actor=user, spend_limit=limit, currency=data["currency"])
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, "Spend limit saved.")
                return redirect("renters:settings")
    if posted == "defaults" and defaults.is_valid():
        data = defaults.cleaned_data
        try:
            services.renter_defaults_update(
                actor=user, image=data["image"], ssh_key_id=data["ssh_key"], ssh_cidrs=data["ssh_cidrs"]
            )
        except DomainError as exc:
            apply_domain_error(defaults, exc)
        else:
            messages.success(request, "Defaults for new bookings saved.")
            return redirect("renters:settings")
    limit_text = None
    if current is not None and current.spend_limit is not None:
        limit_text = str(Money(current.spend_limit, current.currency))
    return render(
        request,
        "renters/settings.html",
        {"form": form, "defaults": defaults, "limit": limit_text, "has_keys": user.ssh_keys.exists()},
    )
