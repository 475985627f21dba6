from django.apps import AppConfig


class OwnersConfig(AppConfig):
    name = "owners"
    verbose_name = "Owners' catalogue"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from owners import checks, models  # noqa: F401 - checks registers itself

        # The encrypted secret is left out of the history: its ciphertext changes on every save.
        auditlog.register(models.Cloud, exclude_fields=["app_credential_secret_encrypted"])
        auditlog.register(models.Offering)
        auditlog.register(models.AvailabilityWindow)
        auditlog.register(models.SliceProfile)
        auditlog.register(models.PricingPolicy)
        auditlog.register(models.OwnerVetting)
        auditlog.register(models.StandbyPool)
        # The proxy is read-only in the admin (accounts.User is recorded already); registered so a save
        # through it would be recorded too.
        auditlog.register(models.OwnerAccount, exclude_fields=["password", "last_login"])
