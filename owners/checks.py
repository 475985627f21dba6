"""System checks on the owners' data (``manage.py check``; run at every deploy)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError


# Not tagged "database" on purpose: `check --deploy` must refuse such data, not only `check --database`.
@checks.register("owners")
def simulator_clouds_only_in_development(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """owners.E001: with MARKETPLACE_ALLOW_SIMULATOR off (production), no cloud may use the simulator
    driver: its servers are not real, and a renter would pay for nothing."""
    from owners.models import Cloud

    if Cloud.simulator_allowed():
        return []
    try:
        count = Cloud.objects.filter(driver=Cloud.Driver.SIMULATOR).count()
    except DatabaseError:  # no database yet (a build step): nothing to check
        return []
    if not count:
        return []
    return [
        checks.Error(
            f"{count} cloud(s) use the local simulator driver, but MARKETPLACE_ALLOW_SIMULATOR is off.",
            hint="Delete those clouds (and their offerings) or move them to OpenStack; the simulator is for "
            "development and demos only.",
            obj="owners.Cloud",
            id="owners.E001",
        )
    ]
