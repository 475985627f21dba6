"""Which driver serves a Cloud, by its ``driver`` field.

The built-in drivers are registered in ProvisioningConfig.ready(), not imported
from here: the registry knows only the protocol, so the drivers (which import
the protocol) and the registry never import each other.

A development-only driver (the simulator: fake clouds, no real servers) is registered only when
``settings.MARKETPLACE_ALLOW_SIMULATOR`` is on, and ``driver_for`` asks the setting again on every
call, so turning it off leaves no door to a fake cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from provisioning.drivers.base import CloudDriver, CloudError

_factories: dict[str, Callable[[Any], CloudDriver]] = {}
_development_only: set[str] = set()


def development_drivers_allowed() -> bool:
    return bool(getattr(settings, "MARKETPLACE_ALLOW_SIMULATOR", False))


def register_driver(kind: str, factory: Callable[[Any], CloudDriver], *, development_only: bool = False) -> None:
    if development_only:
        _development_only.add(kind)
        if not development_drivers_allowed():
            return
    _factories[kind] = factory


def registered_drivers() -> list[str]:
    """The driver kinds that serve clouds here now."""
    return sorted(k for k in _factories if k not in _development_only or development_drivers_allowed())


def driver_for(cloud: Any) -> CloudDriver:
    """The driver of ``cloud`` (an owners.models.Cloud), by its ``driver`` field."""
    if cloud.driver in _development_only and not development_drivers_allowed():
        raise CloudError(f"Clouds of kind {cloud.driver!r} are for development only and are not served here.")
    try:
        factory = _factories[cloud.driver]
    except KeyError:
        raise CloudError(f"No driver for clouds of kind {cloud.driver!r}.") from None
    return factory(cloud)
