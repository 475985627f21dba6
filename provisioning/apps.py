from django.apps import AppConfig
from django.conf import settings


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from owners.hooks import register_connection_tester, register_standby_census
        from provisioning import hooks, models, selectors
        from provisioning.drivers import openstack, register_driver, simulator

        # The built-in drivers are registered here, so the registry never imports them (no circle).
        # The simulator (fake clouds) only where MARKETPLACE_ALLOW_SIMULATOR is on: development and demos.
        register_driver("simulator", simulator.SimulatorDriver, development_only=True)
        register_driver("openstack", openstack.OpenStackDriver)
        register_connection_tester("openstack", openstack.test_connection)
        if settings.MARKETPLACE_ALLOW_SIMULATOR:
            register_connection_tester("simulator", simulator.test_connection)
        auditlog.register(models.Server, exclude_fields=["lease_until", "lease_token", "updated_at"])
        auditlog.register(models.UsageSample)
        auditlog.register(models.SimulatedResource)
        hooks.register()
        from provisioning import access
        from scheduling import hooks as engine_hooks

        # The images a renter may pick on an offering that allows any image: its cloud's public ones.
        engine_hooks.register("public_images", access.public_images)
        register_standby_census(selectors.standby_counts)  # the owner API's servers per pool and state

        from provisioning import dashboard

        dashboard.register()  # utilisation today on the owner's landing dashboard (marketplace.dashboard)
