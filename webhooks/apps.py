from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # The outbox is written inside the engine's and billing's own transactions (their in-transaction hooks).
        from webhooks import events

        events.register()
