from django.apps import AppConfig


class RentersConfig(AppConfig):
    name = "renters"
    verbose_name = "Renters"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from renters.models import RenterSettings, SSHPublicKey

        auditlog.register(RenterSettings)
        auditlog.register(SSHPublicKey)
