from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from notifications import events, models

        auditlog.register(models.Preference)
        # Written inside the engine's and billing's own transactions, beside the webhooks' outbox.
        events.register()
        from marketplace.lib import notices

        notices.user_notice.connect(events.on_user_notice, dispatch_uid="notifications-user-notice")

        from notifications import dashboard

        dashboard.register()  # its panels of the landing page (marketplace.dashboard)
