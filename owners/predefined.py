"""The platform's predefined slice profiles: one definition for the data migration and the tests."""

from __future__ import annotations

from typing import Any

PREDEFINED: list[tuple[str, int, int, int, int, str]] = [
    # name, vCPU, RAM MiB, disk GB, bandwidth Mbit/s, flavor
    ("Micro", 1, 1024, 10, 100, "m1.micro"),
    ("Small", 1, 2048, 20, 250, "m1.small"),
    ("Medium", 2, 4096, 40, 500, "m1.medium"),
    ("Large", 4, 8192, 80, 1000, "m1.large"),
]


def ensure_predefined_profiles(model: Any = None) -> None:
    """Create or refresh the predefined profiles (owner NULL). ``model`` may be a migration's historical model."""
    if model is None:
        from owners.models import SliceProfile as model
    for name, vcpus, ram, disk, bw, flavor in PREDEFINED:
        model.objects.update_or_create(
            owner=None,
            name=name,
            defaults={"vcpus": vcpus, "ram_mib": ram, "disk_gb": disk, "bandwidth_mbps": bw, "flavor_name": flavor},
        )
