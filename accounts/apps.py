from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        import accounts.schema  # noqa: F401 - drf-spectacular finds the token's security scheme
        from accounts import signals
        from accounts.models import ApiToken, IdempotencyKey, User

        auditlog.register(User, exclude_fields=["password", "last_login"])
        auditlog.register(ApiToken, exclude_fields=["key_hash"])
        # Claims and answers are written by SQL and queryset updates (no history); the ORM deletes of
        # keys freed after a refused request are recorded, without the answers.
        auditlog.register(IdempotencyKey, exclude_fields=["fingerprint", "response_body", "response_headers"])
        # Logins, failures, logouts, password, email and MFA changes, object-permission grants.
        signals.connect()
