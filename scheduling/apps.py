from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Market engine"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from scheduling import models

        # Booking state changes are conditional UPDATEs (which model history does not see): each one is
        # also written to the domain event log (audit.services.record_event) with its from/to.
        # The renter's user-data is left out of the history: it is a secret, kept encrypted only.
        auditlog.register(models.Booking, exclude_fields=["user_data_encrypted"])
        for model in (models.AuctionRound, models.Quote, models.PriceHistory, models.Notification):
            auditlog.register(model)

        from scheduling import dashboard

        dashboard.register()  # its panels of the landing page (marketplace.dashboard)
