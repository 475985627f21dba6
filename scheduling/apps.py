from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Market engine"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from renters.hooks import register_price_history
        from scheduling import models, selectors

        # Booking state changes are conditional UPDATEs (which model history does not see): each one is
        # also written to the domain event log (audit.services.record_event) with its from/to.
        # The renter's user-data is left out of the history: it is a secret, kept encrypted only.
        auditlog.register(models.Booking, exclude_fields=["user_data_encrypted"])
        for model in (models.AuctionRound, models.Quote, models.PriceHistory):
            auditlog.register(model)
        auditlog.register(models.BookingFeed, exclude_fields=["token_hash"])  # a secret's hash: not in the history
        # The renters' offering page shows the price history (renters may not import scheduling).
        register_price_history(selectors.price_changes)

        from scheduling import dashboard

        dashboard.register()  # its panels of the landing page (marketplace.dashboard)
