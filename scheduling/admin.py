from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.lib.admin import RecordAdmin, money
from marketplace.lib.errors import DomainError
from scheduling import services
from scheduling.models import AuctionRound, Booking, BookingFeed, PriceHistory, Quote


@admin.register(Booking)
class BookingAdmin(RecordAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "state",
        "renter",
        "offering",
        "profile",
        "pricing_model",
        "starts_at",
        "ends_at",
        money("unit_price"),
        money("total_price", "total"),
        money("bid_amount", "bid"),
        "preempt_deadline",
        "created_at",
    )
    list_filter = ("state", "pricing_model", "currency")
    search_fields = ("=id", "renter__email", "offering__name", "reason")
    raw_id_fields = ("renter", "offering", "profile", "auction_round", "quote")
    date_hierarchy = "starts_at"
    actions = ["preempt_with_default_notice"]
    # State changes go through the services (audited, state machine); the admin only reads them. The
    # renter's user-data is not a field here at all (a secret: never shown, not even encrypted).
    exclude = ("user_data_encrypted",)
    readonly_fields = [f.name for f in Booking._meta.fields if f.name != "user_data_encrypted"]

    @admin.action(description="Preempt (with the offering's notice period)")
    def preempt_with_default_notice(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        done = 0
        for booking in queryset.select_related("offering"):
            try:
                services.booking_preempt(actor=request.user, booking=booking, reason="Preempted by an admin.")
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Booking {booking.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} booking(s) given notice.")


@admin.register(AuctionRound)
class AuctionRoundAdmin(RecordAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "offering",
        "profile",
        "starts_at",
        "ends_at",
        "closes_at",
        "state",
        "clearing_rule",
        money("reserve_price", "reserve"),
        money("clearing_price", "clearing price"),
        "bids_count",
        "winners_count",
        "cleared_at",
    )
    list_filter = ("state", "clearing_rule")
    search_fields = ("=id", "offering__name")
    raw_id_fields = ("offering", "profile")
    readonly_fields = [f.name for f in AuctionRound._meta.fields]


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "renter",
        "offering",
        "profile",
        "starts_at",
        money("unit_price"),
        "utilisation",
        "expires_at",
        "used_at",
    )
    search_fields = ("renter__email", "offering__name")
    raw_id_fields = ("renter", "offering", "profile")


@admin.register(PriceHistory)
class PriceHistoryAdmin(admin.ModelAdmin):
    list_display = ("at", "offering", "profile", money("unit_price"), "utilisation", "source")
    list_filter = ("source", "currency")
    search_fields = ("offering__name",)
    raw_id_fields = ("offering", "profile")


@admin.register(BookingFeed)
class BookingFeedAdmin(RecordAdmin, admin.ModelAdmin):
    """Who has a calendar feed and when its address was made; the token's hash is never shown."""

    list_display = ("user", "created_at", "rotated_at")
    search_fields = ("user__email",)
    exclude = ("token_hash",)
