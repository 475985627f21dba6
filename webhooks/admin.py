"""Admin: endpoints (never the secret), the outbox and the delivery log; redeliver and turn on from here."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.lib.admin import RecordAdmin
from marketplace.lib.errors import DomainError
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "url", "is_active", "consecutive_failures", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "user__email"]
    exclude = ["secret_encrypted"]
    readonly_fields = ["user", "consecutive_failures", "disabled_at", "disabled_reason", "created_at", "updated_at"]
    actions = ["turn_on"]

    @admin.action(description="Turn on (clears the failure count, sends what waits)")
    def turn_on(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for ep in queryset.filter(is_active=False):
            services.endpoint_update(
                actor=request.user,  # type: ignore[arg-type]
                endpoint=ep,
                is_active=True,
            )


@admin.register(Event)
class EventAdmin(RecordAdmin, admin.ModelAdmin):
    list_display = ["id", "type", "user", "booking_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["event_id", "user__email"]
    readonly_fields = ["event_id", "user", "type", "booking_id", "body", "created_at"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "succeeded", "status_code", "latency_ms", "error", "response_body"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "state", "attempts", "next_attempt_at", "last_status_code"]
    list_filter = ["state", "manual"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver (same event id, now)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        for d in queryset.select_related("endpoint__user"):
            try:
                services.delivery_redeliver(
                    actor=request.user,  # type: ignore[arg-type]
                    delivery=d,
                )
            except DomainError as exc:
                messages.error(request, f"Delivery {d.pk}: {exc.message}")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "delivery", "at", "succeeded", "status_code", "latency_ms", "error"]
    list_filter = ["succeeded"]
    readonly_fields = ["delivery", "at", "succeeded", "status_code", "latency_ms", "error", "response_body"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
