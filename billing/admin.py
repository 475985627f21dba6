"""Admin: browse the ledger (read-only), post audited manual adjustments, refund payments, pay out
owners on demand, and approve or reject the money operations above the approval threshold.

Each money operation needs its own permission (checked by the services) and goes through
``services.money_operation_submit``: above BILLING_APPROVAL_THRESHOLD it waits, listed under
"Money operation requests", until a second staff member approves it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, QuerySet, Value, When
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
    MoneyOperationRequest,
    OfferingBillingPolicy,
    Payment,
    PaymentMethod,
    Payout,
    Refund,
    StripeCustomer,
    WebhookEvent,
)
from marketplace.lib.admin import money
from marketplace.lib.errors import DomainError, PermissionDeniedError
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
        """A manual credit or debit: itself a balanced transaction, with its reason and actor, audited.
        Needs billing.post_adjustment; above the approval threshold it waits for a second staff member."""
        if not request.user.is_staff:  # type: ignore[union-attr]
            return HttpResponseRedirect(reverse("admin:index"))
        if not request.user.has_perm("billing.post_adjustment"):  # type: ignore[union-attr]
            raise PermissionDenied("Posting adjustments needs the billing.post_adjustment permission.")
        form = AdjustmentAdminForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                done = services.money_operation_submit(
                    actor=request.user,  # type: ignore[arg-type]
                    operation="adjustment",
                    params={
                        "user": data["user"].pk,
                        "account_kind": data["account_kind"],
                        "amount": data["amount_minor"],
                        "currency": data["currency"],
                        "reason": data["reason"],
                    },
                    idempotency_key=data["nonce"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                amount = format_minor(data["amount_minor"], data["currency"])
                if done.pending is not None:
                    return _pending_redirect(request, done.pending, f"Adjustment {amount}")
                messages.success(request, f"Adjustment {amount} posted.")
                return HttpResponseRedirect(reverse("admin:billing_ledgertransaction_change", args=[done.result.pk]))  # type: ignore[union-attr]
        return render(
            request,
            "billing/admin_adjust.html",
            {**self.admin_site.each_context(request), "form": form, "title": "Manual ledger adjustment"},
        )


def _pending_redirect(request: HttpRequest, pending: MoneyOperationRequest, what: str) -> HttpResponse:
    threshold = services.approval_threshold(pending.currency)
    messages.warning(
        request,
        f"{what} is above the {format_minor(threshold or 0, pending.currency)} one staff member may move alone: "
        "it waits for a second staff member's approval (nothing was posted).",
    )
    return HttpResponseRedirect(reverse("admin:billing_moneyoperationrequest_change", args=[pending.pk]))


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "currency", "balance")
    list_filter = ("kind", "currency")
    search_fields = ("user__email",)
    actions = ["payout_now"]

    @admin.action(description="Pay out the selected owner's earnings now", permissions=["payout"])
    def payout_now(self, request: HttpRequest, queryset: QuerySet[LedgerAccount]) -> HttpResponse | None:
        if queryset.count() != 1 or queryset.get().kind != LedgerAccount.Kind.OWNER_PAYABLE or not queryset.get().user:
            self.message_user(request, "Select one owner's earnings account.", messages.ERROR)
            return None
        acc = queryset.get()
        try:
            done = services.money_operation_submit(
                actor=request.user,  # type: ignore[arg-type]
                operation="payout",
                params={"owner": acc.user_id, "currency": acc.currency, "reason": "Payout on demand (admin)"},
            )
        except (DomainError, gateway.GatewayError) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
            return None
        if done.pending is not None:
            return _pending_redirect(request, done.pending, f"The payout to {acc.user}")
        payout = done.result
        self.message_user(request, f"Payout {format_minor(payout.amount, payout.currency)}: {payout.status}.")  # type: ignore[union-attr]
        return None

    def has_payout_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.payout_on_demand"))

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

    @admin.action(description="Refund the selected payment (asks amount and reason)", permissions=["refund"])
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
                done = services.money_operation_submit(
                    actor=request.user,  # type: ignore[arg-type]
                    operation="refund",
                    params={
                        "payment": payment.pk,
                        "amount": form.cleaned_data["amount_minor"],
                        "reason": form.cleaned_data["reason"],
                    },
                )
            except (DomainError, gateway.GatewayError) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
            else:
                if done.pending is not None:
                    amount = format_minor(done.pending.amount, done.pending.currency)
                    return _pending_redirect(request, done.pending, f"The refund of {amount}")
                refund = done.result
                self.message_user(request, f"Refund {format_minor(refund.amount, refund.currency)}: {refund.status}.")  # type: ignore[union-attr]
            return None
        return render(
            request,
            "billing/admin_refund.html",
            {**self.admin_site.each_context(request), "form": form, "payment": payment, "title": "Refund a payment"},
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.refund_payment"))


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


@admin.register(MoneyOperationRequest)
class MoneyOperationRequestAdmin(ReadOnlyAdmin):
    """Staff money operations above the approval threshold: a second staff member approves or rejects."""

    list_display = (
        "id",
        "requested_at",
        "operation",
        money("amount"),
        "state",
        "requested_by",
        "decided_by",
        "reason",
        "result",
    )
    list_filter = ("state", "operation", "currency")
    search_fields = ("requested_by__email", "decided_by__email", "reason")
    readonly_fields = (
        "operation",
        "state",
        "amount_display",
        "params",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "result",
        "failure_message",
    )
    exclude = ("amount", "currency", "idempotency_key")
    actions = ["approve", "reject"]

    @admin.display(description="amount")
    def amount_display(self, obj: MoneyOperationRequest) -> str:
        return format_minor(obj.amount, obj.currency)

    list_select_related = ("requested_by", "decided_by")

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # The pending ones first: they are what needs a decision.
        pending_first = Case(When(state=MoneyOperationRequest.State.PENDING, then=Value(0)), default=Value(1))
        return [pending_first.asc(), "-requested_at"]

    def _decide(self, request: HttpRequest, queryset: QuerySet[MoneyOperationRequest], approve: bool) -> None:
        for pending in queryset.order_by("pk"):
            try:
                if approve:
                    done = services.money_operation_approve(actor=request.user, request_id=pending.pk)  # type: ignore[arg-type]
                else:
                    done = services.money_operation_reject(actor=request.user, request_id=pending.pk)  # type: ignore[arg-type]
            except (DomainError, PermissionDeniedError) as exc:
                self.message_user(request, f"#{pending.pk}: {exc.message}", messages.ERROR)
            else:
                level = messages.ERROR if done.state == MoneyOperationRequest.State.FAILED else messages.SUCCESS
                detail = done.failure_message or done.result
                self.message_user(request, f"#{done.pk}: {done.get_state_display()}. {detail}".strip(), level)

    @admin.action(description="Approve and carry out the selected requests (a second staff member)")
    def approve(self, request: HttpRequest, queryset: QuerySet[MoneyOperationRequest]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject the selected requests")
    def reject(self, request: HttpRequest, queryset: QuerySet[MoneyOperationRequest]) -> None:
        self._decide(request, queryset, approve=False)
