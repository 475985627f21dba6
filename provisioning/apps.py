from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from owners.hooks import register_connection_tester
        from provisioning import openstack, simulator

        register_connection_tester("openstack", openstack.test_connection)
        register_connection_tester("simulator", simulator.test_connection)
