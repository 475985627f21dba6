"""Nova's own fake virt driver, with the host size taken from the environment.

Loaded by nova-compute as ``compute_driver = sized_fake.SizedFakeDriver``
(nova only loads drivers from the nova.virt package, so start.sh symlinks
this file into .nova/venv/.../nova/virt/).  Everything else -- spawn,
resize, diagnostics, resource tracking -- is nova's own
nova.virt.fake.FakeDriverWithoutFakeNodes (the FakeDriver variant with a
stable node UUID kept in <state_path>/compute_id, so nova-compute survives
restarts) unchanged.  The sizes are read once when nova-compute starts:

  NOVA_FAKE_VCPUS      (default 16)
  NOVA_FAKE_MEMORY_MB  (default 32768)
  NOVA_FAKE_DISK_GB    (default 500)
"""

import os

from nova.virt import fake


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


class SizedFakeDriver(fake.FakeDriverWithoutFakeNodes):
    vcpus = _env_int("NOVA_FAKE_VCPUS", 16)
    memory_mb = _env_int("NOVA_FAKE_MEMORY_MB", 32768)
    local_gb = _env_int("NOVA_FAKE_DISK_GB", 500)
