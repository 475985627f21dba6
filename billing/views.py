"""Billing pages: the renter's money (cards, top-up, costs, statements), the owner's revenue and payouts, the webhook."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import pdf, selectors, services, webhooks
from billing import stripe_gateway as gateway
from billing.forms import RevenueRangeForm, ShortNoticePolicyForm, StatementForm, TopUpForm
from billing.models import OfferingBillingPolicy
from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.idempotency import idempotent_view
from marketplace.lib.money import Money, format_minor
from marketplace.lib.staff import is_owner_or_superuser
from provisioning import selectors as provisioning_selectors

log = logging.getLogger(__name__)


def _currency(request: HttpRequest) -> str:
    return services.renter_currency(request.user)  # type: ignore[arg-type]


def _overview(request: HttpRequest, topup_form: TopUpForm | None = None, status: int = 200) -> HttpResponse:
    currency = _currency(request)
    now = clock.now()
    balances = selectors.renter_balances(request.user, currency)
    if topup_form is None:
        topup_form = TopUpForm(currencies=selectors.topup_currencies(request.user))
    return render(
        request,
        "billing/overview.html",
        {
            "mode": services.billing_mode(),
            "currency": currency,
            "balances": balances,
            "summary": {"available": balances[0].available, "held": balances[0].held},
            "cards": selectors.payment_methods(request.user),
            "payments": selectors.payments(request.user)[:20],
            "topup_form": topup_form,
            "costs": _costs(request.user, now),
            "today": now.date(),
            **_spend(request.user, currency, now),
        },
        status=status,
    )


def _spend(user: Any, default_currency: str, now: Any) -> dict[str, Any]:
    """This month's spending per day (in the limit's currency when the renter set a limit), its chart."""
    from renters.models import RenterSettings

    row = RenterSettings.objects.filter(user=user, spend_limit__isnull=False).values_list("spend_limit", "currency")
    limit, currency = row.first() or (None, default_currency)
    spend = selectors.renter_daily_spend(user, currency, timezone.get_current_timezone(), now)
    return {"spend": spend, "spend_limit": limit, "spend_chart": selectors.renter_spend_chart(spend, limit)}


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    return _overview(request)


def _costs(user, now):  # type: ignore[no-untyped-def]
    return [(c, selectors.running_cost(c, now)) for c in selectors.booking_charges(user)[:50]]


@login_required
def costs(request: HttpRequest) -> HttpResponse:
    """The live running-spend table (htmx polls it while a slice runs)."""
    return render(request, "billing/_costs.html", {"costs": _costs(request.user, clock.now())})


@login_required
def card_add(request: HttpRequest) -> HttpResponse:
    try:
        setup = services.card_setup_start(actor=request.user)  # type: ignore[arg-type]
    except (DomainError, gateway.GatewayError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("billing:overview")
    return render(
        request,
        "billing/card_add.html",
        {"setup": setup, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY, "stripe_js": settings.STRIPE_JS_URL},
    )


@login_required
@require_POST
def card_added(request: HttpRequest) -> HttpResponse:
    try:
        method = services.card_setup_complete(actor=request.user, setup_intent_id=request.POST.get("setup_intent", ""))  # type: ignore[arg-type]
    except (DomainError, gateway.GatewayError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(request, f"Card {method} added.")
    return redirect("billing:overview")


@login_required
@require_POST
def card_default(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.payment_method_set_default(actor=request.user, payment_method_id=pk)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("billing:overview")


@login_required
@require_POST
def card_remove(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.payment_method_remove(actor=request.user, payment_method_id=pk)  # type: ignore[arg-type]
    except (DomainError, gateway.GatewayError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(request, "Card removed.")
    return redirect("billing:overview")


@login_required
@require_POST
@idempotent_view
def topup(request: HttpRequest) -> HttpResponse:
    """A top-up typed in major units; a refused one shows the page again with what was typed."""
    form = TopUpForm(request.POST, currencies=selectors.topup_currencies(request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            payment = services.topup_create(actor=request.user, amount=data["amount_minor"], currency=data["currency"])  # type: ignore[arg-type]
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            payment, queued = services.payment_submit(payment=payment)
            if queued:
                messages.info(request, "Your top-up is being processed; your balance updates when the card is charged.")
            elif payment.status == "succeeded":
                messages.success(request, f"{format_minor(payment.amount, payment.currency)} added to your balance.")
            elif payment.status == "failed":
                messages.error(request, f"Your card was declined: {payment.failure_message}")
            else:
                messages.info(request, "Your top-up is being processed.")
            return redirect("billing:overview")
    return _overview(request, topup_form=form)


@login_required
def statement(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate(clock.now())  # the viewer's month: a statement is read in the viewer's zone
    form = StatementForm(request.GET or {"year": today.year, "month": today.month})
    if not form.is_valid():
        return HttpResponseBadRequest("Choose a year and a month.")
    year, month, fmt = form.cleaned_data["year"], form.cleaned_data["month"], form.cleaned_data.get("format") or "html"
    zone = timezone.get_current_timezone()
    lines = selectors.renter_statement(request.user, year, month, zone)
    name = f"statement-{year}-{month:02d}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["date_utc", "kind", "description", "booking_id", "amount_minor", "currency", "amount"])
        for line in lines:
            writer.writerow(
                [
                    line.at.isoformat(),
                    line.kind,
                    line.description,
                    line.booking_id or "",
                    line.amount,
                    line.currency,
                    format_minor(line.amount, line.currency),
                ]
            )
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    if fmt == "pdf":
        response = HttpResponse(_statement_pdf(request, year, month, lines, name), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response
    balances = selectors.renter_statement_balances(request.user, year, month, lines, zone)
    return render(
        request, "billing/statement.html", {"lines": lines, "year": year, "month": month, "balances": balances}
    )


def _statement_pdf(
    request: HttpRequest, year: int, month: int, lines: list[selectors.StatementLine], name: str
) -> bytes:
    """The statement as a PDF: the month's movements in the viewer's zone, each with the renter's funds
    (available plus held) after it, per currency, then the month's totals."""
    zone = timezone.get_current_timezone_name()
    start, end = selectors.statement_period(year, month, timezone.get_current_timezone())
    balances = selectors.renter_statement_balances(request.user, year, month, lines, timezone.get_current_timezone())
    funds = {b.currency: b.available + b.held - b.net for b in balances}  # at the month's start
    rows = []
    for line in lines:
        funds[line.currency] = funds.get(line.currency, 0) + line.amount
        rows.append(
            (
                f"{timezone.localtime(line.at):%Y-%m-%d %H:%M}",
                line.description,
                format_minor(line.amount, line.currency),
                format_minor(funds[line.currency], line.currency),
            )
        )
    totals = []
    for b in balances:
        totals += [
            (f"Funds at the start ({b.currency})", format_minor(b.available + b.held - b.net, b.currency)),
            (f"Net for the month ({b.currency})", format_minor(b.net, b.currency)),
            (f"Available at month end ({b.currency})", format_minor(b.available, b.currency)),
            (f"Held for bookings at month end ({b.currency})", format_minor(b.held, b.currency)),
        ]
    return pdf.table_pdf(
        title=f"Statement {year}-{month:02d}",
        lines=[
            f"For {request.user.email}",  # type: ignore[union-attr]
            f"Period: {timezone.localtime(start):%Y-%m-%d %H:%M} to {timezone.localtime(end):%Y-%m-%d %H:%M} ({zone})",
            "Balance: your funds after each line, available plus held for bookings.",
        ],
        header=(f"Date ({zone})", "Description", "Amount", "Balance"),
        rows=rows,
        totals=totals,
        widths=(24, 52, 22, 22),
    )


def offering_terms(request: HttpRequest, offering_id: int) -> HttpResponse:
    """The billing terms of a published offering, shown before buying (an htmx fragment or JSON)."""
    from owners import selectors as catalogue

    offering = catalogue.published_offerings().filter(pk=offering_id).first()
    if offering is None:
        raise Http404
    terms = selectors.offering_terms(offering)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(terms)
    return render(request, "billing/_terms.html", {"terms": terms})


# ---------------------------------------------------------------- owners


def _owner_only(request: HttpRequest) -> None:
    if not is_owner_or_superuser(request.user):
        raise Http404


@login_required
def owner_revenue(request: HttpRequest) -> HttpResponse:
    _owner_only(request)
    from owners.models import Offering

    owner = request.user
    offerings = {o.pk: o for o in Offering.objects.filter(owner_id=owner.pk)}
    today = timezone.localdate(clock.now())
    default = {"since": today - timedelta(days=REVENUE_DAYS - 1), "until": today}
    range_form = RevenueRangeForm(request.GET if "since" in request.GET or "until" in request.GET else default)
    first, last = (
        (range_form.cleaned_data["since"], range_form.cleaned_data["until"])
        if range_form.is_valid()
        else (default["since"], default["until"])
    )
    summary = selectors.owner_revenue_summary(owner, first, last, timezone.get_current_timezone())
    policies = {p.offering_id: p for p in OfferingBillingPolicy.objects.filter(offering__owner_id=owner.pk)}
    if request.GET.get("format") == "csv" and range_form.is_valid():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            ["day", "offering_id", "offering", "currency", "renters_paid", "platform_fee", "credits", "net"]
        )
        for row in summary["days"]:  # amounts in major units of the row's currency (8.50, not 850)
            writer.writerow(
                [
                    row["day"].isoformat(),
                    row["offering"] or "",
                    row["offering_name"],
                    row["currency"],
                    *(Money(row[k], row["currency"]).major() for k in selectors.REVENUE_AMOUNTS),
                ]
            )
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="revenue-{first}-{last}.csv"'
        return response
    return render(
        request,
        "billing/owner_revenue.html",
        {
            "summary": summary,
            "revenue_charts": selectors.owner_revenue_charts(summary),
            "range_form": range_form,
            "payable": selectors.owner_payable(request.user),
            "payouts": selectors.payouts(request.user)[:50],
            "account": getattr(request.user, "connected_account", None),
            "payout_minimum": settings.PAYOUT_MINIMUM,
            "offerings": [(o, policies.get(o.pk)) for o in offerings.values()],
            "policy_form": ShortNoticePolicyForm(initial={"short_notice_credit_percent": 200}),
            "standby_idle": _standby_idle(list(offerings.values())),
        },
        status=400 if range_form.errors else 200,
    )


REVENUE_DAYS = 31  # the revenue table's default period, and the standby idle time's


def idle_words(seconds: int) -> str:
    """Seconds as an owner reads a cost of time: 4800 -> "1 h 20 min", 45 -> "45 s", 0 -> "0 min"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if not hours and not minutes:
        return f"{secs} s" if secs else "0 min"
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


def _standby_idle(offerings: list[Any]) -> list[tuple[Any, int, str]]:
    """Per offering with standby servers (now or in the period): its standby idle time, the owner's cost."""
    now = clock.now()
    idle = provisioning_selectors.standby_idle_seconds(
        [o.pk for o in offerings], now - timedelta(days=REVENUE_DAYS), now
    )
    return [(o, idle[o.pk], idle_words(idle[o.pk])) for o in offerings if idle[o.pk] or o.standby_vcpus]


@login_required
@require_POST
def connect_onboard(request: HttpRequest) -> HttpResponse:
    _owner_only(request)
    back = request.build_absolute_uri(reverse("billing:connect_return"))
    try:
        url = services.connect_onboard(actor=request.user, refresh_url=back, return_url=back)  # type: ignore[arg-type]
    except (DomainError, gateway.GatewayError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("billing:owner_revenue")
    return redirect(url)


@login_required
def connect_return(request: HttpRequest) -> HttpResponse:
    _owner_only(request)
    try:
        account = services.connect_refresh(user=request.user)  # type: ignore[arg-type]
    except (DomainError, gateway.GatewayError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(request, "Payouts are enabled." if account.payouts_enabled else "Stripe still needs details.")
    return redirect("billing:owner_revenue")


@login_required
@require_POST
@idempotent_view
def payout_request(request: HttpRequest) -> HttpResponse:
    _owner_only(request)
    currency = request.POST.get("currency", "USD")
    try:
        payout = services.payout_request(actor=request.user, owner=request.user, currency=currency, trigger="on_demand")  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("billing:owner_revenue")
    payout, _ = services.payout_submit(payout=payout)
    messages.info(request, f"Payout of {format_minor(payout.amount, payout.currency)}: {payout.get_status_display()}.")
    return redirect("billing:owner_revenue")


@login_required
@require_POST
def offering_policy(request: HttpRequest, offering_id: int) -> HttpResponse:
    _owner_only(request)
    form = ShortNoticePolicyForm(request.POST)
    if form.is_valid():
        try:
            services.offering_billing_policy_set(actor=request.user, offering_id=offering_id, **form.cleaned_data)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Short-notice credit saved.")
    else:
        messages.error(request, "Choose between 100 and 1000 %.")
    return redirect("billing:owner_revenue")


# ---------------------------------------------------------------- Stripe webhook


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store (once), process. A stored event is acknowledged even if our handler failed: we retry it."""
    try:
        event, is_new = webhooks.event_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except gateway.SignatureInvalid:
        return JsonResponse({"error": "bad signature"}, status=400)
    if not is_new and event.status in ("processed", "ignored"):
        return JsonResponse({"status": "duplicate"})
    event = webhooks.event_process(event_id=event.pk)
    return JsonResponse({"status": event.status})
