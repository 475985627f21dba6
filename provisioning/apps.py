from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from owners.hooks import register_connection_tester
        from provisioning import hooks, models, openstack, simulator

        register_connection_tester("openstack", openstack.test_connection)
        register_connection_tester("simulator", simulator.test_connection)
        auditlog.register(models.Server, exclude_fields=["lease_until", "lease_token", "updated_at"])
        auditlog.register(models.UsageSample)
        auditlog.register(models.SimulatedResource)
        hooks.register()
