"""Cloud drivers: the protocol (base), the registry, and the two drivers (openstack, simulator).

Callers import the protocol and the registry from here; the drivers themselves
are registered in ProvisioningConfig.ready() and reached through driver_for().
"""

from provisioning.drivers.base import (
    META_BOOKING,
    NAME_PREFIX,
    TAG_MARKETPLACE,
    Capabilities,
    CloudDriver,
    CloudError,
    CloudServer,
    LaunchSpec,
    booking_ref,
    booking_tag,
    server_name,
    wait_for_status,
)
from provisioning.drivers.registry import driver_for, register_driver

__all__ = [
    "META_BOOKING",
    "NAME_PREFIX",
    "TAG_MARKETPLACE",
    "Capabilities",
    "CloudDriver",
    "CloudError",
    "CloudServer",
    "LaunchSpec",
    "booking_ref",
    "booking_tag",
    "driver_for",
    "register_driver",
    "server_name",
    "wait_for_status",
]
