from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from billing import integration, models

        for model in (
            models.LedgerAccount,
            models.LedgerTransaction,
            models.StripeCustomer,
            models.PaymentMethod,
            models.Payment,
            models.Refund,
            models.Dispute,
            models.ConnectedAccount,
            models.Payout,
            models.OfferingBillingPolicy,
            models.BookingCharge,
            models.MoneyOperationRequest,
        ):
            auditlog.register(model)
        # Entries are covered by their transaction's record; webhook payloads are large and stored whole already.
        auditlog.register(models.LedgerEntry)
        auditlog.register(models.WebhookEvent, exclude_fields=["payload"])
        integration.register_with_engine()

        from billing import dashboard

        dashboard.register()  # its panels of the landing page (marketplace.dashboard)
