from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from webhooks import models

        # Model history like every business model; never the secret, nor the bodies (stored whole already),
        # nor a delivery's claim (a worker's lease, changed on every attempt).
        auditlog.register(models.Endpoint, exclude_fields=["secret_encrypted"])
        auditlog.register(models.Event, exclude_fields=["body"])
        auditlog.register(models.Delivery, exclude_fields=["claimed_until"])
        auditlog.register(models.DeliveryAttempt, exclude_fields=["response_body"])
        # The outbox is written inside the engine's and billing's own transactions (their in-transaction hooks).
        from webhooks import events

        events.register()
