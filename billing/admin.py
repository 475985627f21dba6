"""Admin: browse the ledger (read-only), post audited manual adjustments, refund payments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from accounts.models import User
from billing import ledger, services
from billing import stripe_gateway as gateway
from billing.forms import AdjustmentForm, RefundForm
from billing.models import (
    BookingCharge,
    ConnectedAccount,
    Dispute,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    OfferingBillingPolicy,
    Payment,
    PaymentMethod,
    Payout,
    Refund,
    StripeCustomer,
    WebhookEvent,
)
from marketplace.lib.admin import money
from marketplace.lib.errors import DomainError
from marketplace.lib.money import Money, format_minor


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "amount_display")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="amount (+ debit, − credit)")
    def amount_display(self, obj: LedgerEntry) -> str:
        return format_minor(obj.amount, obj.currency)


class AdjustmentAdminForm(AdjustmentForm):
    user = forms.ModelChoiceField(queryset=User.objects.order_by("email"))


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "currency", "booking_id", "memo", "actor", "idempotency_key")
    list_filter = ("kind", "currency")
    search_fields = ("idempotency_key", "memo", "=booking_id", "actor__email")
    date_hierarchy = "created_at"
    inlines = [EntryInline]

    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path("adjust/", self.admin_site.admin_view(self.adjust_view), name="billing_ledgertransaction_adjust"),
        ] + super().get_urls()

    def adjust_view(self, request: HttpRequest) -> HttpResponse:
        """A manual credit or debit: itself a balanced transaction, with its reason and actor, audited."""
        if not request.user.is_staff:  # type: ignore[union-attr]
            return HttpResponseRedirect(reverse("admin:index"))
        form = AdjustmentAdminForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                txn = services.adjustment_post(
                    actor=request.user,  # type: ignore[arg-type]
                    user=data["user"],
                    account_kind=data["account_kind"],
                    amount=data["amount_minor"],
                    currency=data["currency"],
                    reason=data["reason"],
                    idempotency_key=data["nonce"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Adjustment {format_minor(data['amount_minor'], data['currency'])} posted.")
                return HttpResponseRedirect(reverse("admin:billing_ledgertransaction_change", args=[txn.pk]))
        return render(
            request,
            "billing/admin_adjust.html",
            {**self.admin_site.each_context(request), "form": form, "title": "Manual ledger adjustment"},
        )


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "currency", "balance")
    list_filter = ("kind", "currency")
    search_fields = ("user__email",)

    @admin.display(description="balance")
    def balance(self, obj: LedgerAccount) -> str:
        return format_minor(ledger.balance(obj), obj.currency)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", money("amount", "amount (+ debit, − credit)"))
    list_filter = ("account__kind", "currency")
    search_fields = ("transaction__idempotency_key", "account__user__email")
    list_select_related = ("transaction", "account", "account__user")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "user",
        "purpose",
        money("amount"),
        money("captured_amount", "captured"),
        "status",
        "stripe_payment_intent_id",
    )
    list_filter = ("purpose", "status", "currency")
    search_fields = ("user__email", "stripe_payment_intent_id", "idempotency_key", "=booking_id")
    actions = ["refund"]

    @admin.action(description="Refund the selected payment (asks amount and reason)")
    def refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Refund one payment at a time.", messages.ERROR)
            return None
        payment = queryset.get()
        form = RefundForm(
            request.POST if "apply" in request.POST else None,
            initial={"amount": Money(payment.captured_amount or payment.amount, payment.currency).major()},
            currency=payment.currency,
        )
        if "apply" in request.POST and form.is_valid():
            try:
                refund = services.refund_create(
                    actor=request.user,  # type: ignore[arg-type]
                    payment_id=payment.pk,
                    amount=form.cleaned_data["amount_minor"],
                    reason=form.cleaned_data["reason"],
                )
            except (DomainError, gateway.GatewayError) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
            else:
                self.message_user(request, f"Refund {format_minor(refund.amount, refund.currency)}: {refund.status}.")
            return None
        return render(
            request,
            "billing/admin_refund.html",
            {**self.admin_site.each_context(request), "form": form, "payment": payment, "title": "Refund a payment"},
        )


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "payment", money("amount"), "status", "actor", "reason")
    list_filter = ("status",)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "owner", money("amount"), "trigger", "status", "stripe_transfer_id")
    list_filter = ("status", "trigger", "currency")
    search_fields = ("owner__email", "stripe_transfer_id")


@admin.register(BookingCharge)
class BookingChargeAdmin(ReadOnlyAdmin):
    list_display = (
        "booking_id",
        "renter",
        "owner",
        "mode",
        money("price"),
        money("charged_amount", "charged"),
        money("fee_amount", "fee"),
        money("credit_amount", "credit"),
        "state",
    )
    list_filter = ("state", "mode", "outcome")
    search_fields = ("=booking_id", "renter__email", "owner__email")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("stripe_event_id", "type", "status", "attempts", "received_at", "processed_at")
    list_filter = ("status", "type")
    search_fields = ("stripe_event_id",)


for model in (StripeCustomer, PaymentMethod, Dispute, ConnectedAccount):
    admin.site.register(model, ReadOnlyAdmin)


@admin.register(OfferingBillingPolicy)
class OfferingBillingPolicyAdmin(admin.ModelAdmin):
    list_display = ("offering", "short_notice_credit_percent", "updated_at")
    raw_id_fields = ("offering",)
