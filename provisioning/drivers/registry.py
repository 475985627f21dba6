"""Which driver serves a Cloud, by its ``driver`` field.

The built-in drivers are registered in ProvisioningConfig.ready(), not imported
from here: the registry knows only the protocol, so the drivers (which import
the protocol) and the registry never import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioning.drivers.base import CloudDriver, CloudError

_factories: dict[str, Callable[[Any], CloudDriver]] = {}


def register_driver(kind: str, factory: Callable[[Any], CloudDriver]) -> None:
    _factories[kind] = factory


def driver_for(cloud: Any) -> CloudDriver:
    """The driver of ``cloud`` (an owners.models.Cloud), by its ``driver`` field."""
    try:
        factory = _factories[cloud.driver]
    except KeyError:
        raise CloudError(f"No driver for clouds of kind {cloud.driver!r}.") from None
    return factory(cloud)
