"""The user portal: browse published offerings, manage SSH keys, the spend limit and booking defaults."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.requests import actor
from marketplace.lib import clock, inputs
from marketplace.lib.durations import format_length
from marketplace.lib.errors import DomainError, ValidationFailed
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.money import Money, MoneyError, format_minor, to_minor
from owners import selectors as catalogue
from owners.models import Offering, PricingPolicy
from renters import hooks, selectors, services
from renters.forms import DefaultsForm, OfferingFilterForm, PriceRangeForm, SpendLimitForm, SSHKeyForm


def offering_browse(request: HttpRequest) -> HttpResponse:
    form = OfferingFilterForm(request.GET or None, regions=catalogue.regions())
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
    # htmx swaps the filters and the results together, so each refusal shows beside its field.
    template = "renters/_offering_search.html" if request.headers.get("HX-Request") else "renters/offering_browse.html"
    return render(request, template, {"form": form, "offerings": offerings})


def offering_detail(request: HttpRequest, pk: int) -> HttpResponse:
    offering = get_object_or_404(catalogue.published_offerings(), pk=pk)
    prices = _price_form(request)
    since, until = _price_range(prices)
    changes = hooks.price_history(offering, since, until, MAX_PRICE_POINTS)
    if request.GET.get("format") == "csv":
        return _price_csv(offering, changes)
    # What the owner's standby servers hold back from sale (they make slices start at once).
    standby = sum(offering.standby_pools.values_list("size", flat=True))
    return render(
        request,
        "renters/offering_detail.html",
        {
            "offering": offering,
            "standby_servers": standby,
            "sellable": offering.sellable_capacity(),
            "prices": prices,
            "price_charts": _price_charts(offering, changes, since, until),
            "price_range": (_local(since), _local(until)),
            "price_points_capped": len(changes) >= MAX_PRICE_POINTS,
        },
    )


# ---- the price history on the offering page and in the slice search ----------------------------

MAX_PRICE_POINTS = 2000  # the latest ones of the range: a chart's worth
PRICE_SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_PRICE_SPAN = "7d"
SOURCES = {"fixed": "Fixed price", "dynamic": "Dynamic quotes", "auction": "Auction clearing"}


@require_GET
def offering_price_history(request: HttpRequest, pk: int, profile_id: int) -> HttpResponse:
    """One profile's price history as a fragment (its chart, range form, table and CSV), which the
    slice search loads into a result when the renter opens it: nothing is read until then. The same
    range form and chart as the offering page; a refused range is shown beside its field (answered
    200 so that htmx swaps it in) and the last 7 days are drawn meanwhile. ``row`` (the result's
    number) keeps the ids of several open charts apart."""
    offering = get_object_or_404(catalogue.published_offerings(), pk=pk)
    policy = offering.pricing_policies.filter(profile_id=profile_id).select_related("profile").first()
    if policy is None:
        raise Http404("This offering has no price for that profile.")
    row = _row_number(request.GET.get("row"))
    scope = f"r{row}-{offering.pk}-{profile_id}"
    prices = _price_form(request, auto_id=f"{scope}-%s")
    since, until = _price_range(prices)
    try:
        changes = hooks.price_history(offering, since, until, MAX_PRICE_POINTS, profile_id=profile_id)
    except ValidationFailed as exc:  # the selector's own range rules, should the form's ever differ
        apply_domain_error(prices, exc)
        changes = []
    if request.GET.get("format") == "csv":
        return _price_csv(offering, changes, suffix=f"-{policy.profile.name}")
    (chart,) = _price_charts(offering, changes, since, until, policies=[policy], scope=f"r{row}-{offering.pk}-")
    return render(
        request,
        "renters/_price_history.html",
        {
            "offering": offering,
            "profile": policy.profile,
            "row": row,
            "scope": scope,
            "prices": prices,
            "chart": chart,
            "price_range": (_local(since), _local(until)),
            "price_points_capped": len(changes) >= MAX_PRICE_POINTS,
        },
    )


def _row_number(text: str | None) -> int:
    """The result's number the slice search sends (0 when missing or not a small number)."""
    return int(text) if text and text.isdigit() and len(text) <= 4 else 0


def _price_form(request: HttpRequest, **kwargs: Any) -> PriceRangeForm:
    """The range form, bound to the query when it has one; a query without a range (the slice search's
    toggle, a CSV link) shows the 7 days it draws, not the list's first choice."""
    if not request.GET:
        return PriceRangeForm(**kwargs)
    data = request.GET.copy()
    data.setdefault("range", DEFAULT_PRICE_SPAN)
    return PriceRangeForm(data, **kwargs)


def _price_range(form: PriceRangeForm) -> tuple[datetime, datetime]:
    """The range asked for (the last 7 days when none, or when the form was refused)."""
    now = clock.now()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data.get("range") == "custom":
            return data["since"], data["until"]
        span = PRICE_SPANS[data.get("range") or DEFAULT_PRICE_SPAN]
    else:
        span = PRICE_SPANS[DEFAULT_PRICE_SPAN]
    return now - min(span, inputs.max_range()), now  # an operator's shorter maximum range wins


def _local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def _price_charts(
    offering: Offering,
    changes: list[hooks.PriceChange],
    since: datetime,
    until: datetime,
    *,
    policies: Iterable[PricingPolicy] | None = None,
    scope: str = "",
) -> list[dict[str, Any]]:
    """Per priced profile (``policies``, default the offering's): a step chart spec (a line per
    source; labels in the viewer's zone, a price older than the range drawn from its start) and the
    table of the same changes; ``scope`` keeps chart ids apart where several offerings' charts share
    a page (the slice search)."""
    by_profile: dict[int, list[hooks.PriceChange]] = defaultdict(list)
    for change in changes:
        by_profile[change.profile_id].append(change)
    charts = []
    for policy in offering.pricing_policies.all() if policies is None else policies:
        rows = by_profile.get(policy.profile_id, [])
        instants = sorted({max(c.at, since) for c in rows} | {until}) if rows else []
        datasets = []
        for source, label in SOURCES.items():
            points = [c for c in rows if c.source == source]
            if points:
                datasets.append(
                    {
                        "label": label,
                        # Only the source in force now is drawn up to now.
                        "data": _steps(points, instants, since, until if source != policy.model else None),
                        "step": True,
                        "dashed": source == "auction",
                        "fill": False,
                    }
                )
        currency = rows[-1].currency if rows else policy.currency
        charts.append(
            {
                "id": f"price-chart-{scope}{policy.profile_id}",
                "profile": policy.profile,
                "spec": {
                    "type": "line",
                    "labels": [_local(t) for t in instants],
                    "datasets": datasets,
                    "y_label": f"{currency} per {format_length(offering.grid_seconds)}",
                },
                "rows": [
                    {
                        "at": _local(c.at),
                        "source": SOURCES.get(c.source, c.source),
                        "price": format_minor(c.unit_price, c.currency),
                    }
                    for c in rows
                ],
            }
        )
    return charts


def _steps(
    points: list[hooks.PriceChange], instants: list[datetime], since: datetime, stop: datetime | None
) -> list[float | None]:
    """The price in force at each instant (major units), None before the source's first change and,
    with ``stop``, from ``stop`` on (a source no longer in force)."""
    out: list[float | None] = []
    current: hooks.PriceChange | None = None
    i = 0
    for t in instants:
        while i < len(points) and max(points[i].at, since) <= t:
            current, i = points[i], i + 1
        live = current is not None and (stop is None or t < stop)
        out.append(float(Money(current.unit_price, current.currency).major()) if live and current else None)
    return out


def _price_csv(offering: Offering, changes: list[hooks.PriceChange], *, suffix: str = "") -> HttpResponse:
    names = {p.profile_id: p.profile.name for p in offering.pricing_policies.all()}
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["at", "profile", "source", "unit_price", "currency"])
    for c in changes:
        at = timezone.localtime(c.at).isoformat()
        out.writerow(
            [at, names.get(c.profile_id, c.profile_id), c.source, Money(c.unit_price, c.currency).major(), c.currency]
        )
    response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    name = slugify(f"price-history-{offering.pk}{suffix}")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


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
