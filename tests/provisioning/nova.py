"""The real Nova started by deploy/nova/start.sh, for integration tests and the benchmark.

Reads .nova/endpoints.env (or the same NOVA_* variables from the environment).
Each session works in a Keystone project of its own, with an application
credential in that project: the marketplace's Cloud row uses it like an
owner's credential, and the reconciler cannot see anybody else's servers.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = Path(os.environ.get("NOVA_STATE_DIR", ROOT / ".nova")) / "endpoints.env"


def endpoints() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export ") :].partition("=")
                values[key.strip()] = value.strip()
    for key in ("NOVA_AUTH_URL", "NOVA_USERNAME", "NOVA_PASSWORD", "NOVA_PROJECT_NAME", "NOVA_IMAGE_NAME"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    return values


def operator_allowances(ep: dict[str, str] | None = None) -> dict[str, str]:
    """The operator settings that let the marketplace call the development Nova (plain http on a local
    address, which marketplace.lib.netguard refuses by default), as environment variables: for the
    settings of the test process and for the workers it starts."""
    from urllib.parse import urlsplit

    ep = ep or endpoints()
    urls = [ep[k] for k in ("NOVA_AUTH_URL", "NOVA_COMPUTE_URL", "NOVA_IMAGE_URL", "NOVA_NETWORK_URL") if ep.get(k)]
    hosts = sorted({urlsplit(u).hostname or "" for u in urls} - {""})
    return {
        "CLOUD_URL_HTTP_HOSTS": ",".join(hosts),
        # The catalog of a devstack-like Keystone may list its endpoints on any local address.
        "CLOUD_URL_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }


def allow_in_settings(settings: Any, ep: dict[str, str] | None = None) -> None:
    """operator_allowances() applied to django settings (pytest-django's ``settings`` fixture)."""
    for key, value in operator_allowances(ep).items():
        setattr(settings, key, [v for v in value.split(",") if v])


def unreachable_reason() -> str | None:
    """Why the real Nova cannot be used (None when it can)."""
    ep = endpoints()
    if not ep.get("NOVA_AUTH_URL"):
        return f"no Nova endpoints: run deploy/nova/start.sh (expected {ENV_FILE})"
    try:
        conn = admin_connection(ep)
        services = list(conn.compute.services())
    except Exception as exc:  # noqa: BLE001
        return f"Nova at {ep['NOVA_AUTH_URL']} is not reachable: {type(exc).__name__}: {str(exc)[:200]}"
    if not any(s.binary == "nova-compute" and s.state == "up" for s in services):
        return "Nova answers but no nova-compute is up"
    return None


def admin_connection(ep: dict[str, str] | None = None, project: str | None = None) -> Any:
    import openstack

    ep = ep or endpoints()
    return openstack.connection.Connection(
        auth_url=ep["NOVA_AUTH_URL"],
        username=ep.get("NOVA_USERNAME", "admin"),
        password=ep.get("NOVA_PASSWORD", "secret"),
        project_name=project or ep.get("NOVA_PROJECT_NAME", "admin"),
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=ep.get("NOVA_REGION", "RegionOne"),
        timeout=30,
    )


@dataclass
class NovaProject:
    name: str
    project_id: str
    credential_id: str
    credential_secret: str
    auth_url: str
    image: str
    conn: Any  # admin, scoped to the project

    def servers(self) -> list[Any]:
        return list(self.conn.compute.servers(details=True))

    def cleanup(self) -> None:
        for server in self.servers():
            self.conn.compute.delete_server(server, ignore_missing=True)
        deadline = time.monotonic() + 120
        while self.servers() and time.monotonic() < deadline:
            time.sleep(1)
        # Key pairs belong to the user, shared by every project and run: the marketplace deletes its own
        # (the tests assert it), nothing is swept here.
        for sg in self.conn.network.security_groups(project_id=self.project_id):
            if sg.name != "default":
                self.conn.network.delete_security_group(sg, ignore_missing=True)
        with contextlib.suppress(Exception):
            self.conn.identity.delete_application_credential(self.conn.current_user_id, self.credential_id)
        admin = admin_connection()
        admin.identity.delete_project(self.project_id, ignore_missing=True)


def new_project(prefix: str = "mkt-it") -> NovaProject:
    """A fresh Keystone project with the admin role (flavors, diagnostics) and an application credential."""
    ep = endpoints()
    admin = admin_connection(ep)
    domain = admin.identity.find_domain("default")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    project = admin.identity.create_project(name=name, domain_id=domain.id)
    role = admin.identity.find_role("admin")
    admin.identity.assign_project_role_to_user(project, admin.current_user_id, role)
    conn = admin_connection(ep, project=name)
    secret = uuid.uuid4().hex
    cred = None
    for attempt in range(8):  # Keystone may not see the fresh role assignment at once
        try:
            cred = conn.identity.create_application_credential(
                user=conn.current_user_id, name=name, secret=secret, roles=[{"id": role.id}]
            )
            break
        except Exception:
            if attempt == 7:
                raise
            time.sleep(0.5 * (attempt + 1))
    return NovaProject(
        name=name,
        project_id=project.id,
        credential_id=cred.id,
        credential_secret=secret,
        auth_url=ep["NOVA_AUTH_URL"],
        image=ep.get("NOVA_IMAGE_NAME", "cirros"),
        conn=conn,
    )
