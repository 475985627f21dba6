"""Smoke test of the local Nova started by deploy/nova/start.sh.

Run with the project's venv:  .venv/bin/python deploy/nova/smoke.py
Reads .nova/endpoints.env (or the NOVA_* / OS_* environment).  Creates a
flavor, a keypair and a Neutron security group, boots a server with
networks="none", reads its diagnostics, resizes it and confirms, deletes it,
then fills the fake host until a boot fails with NoValidHost.  Cleans up
everything it made (and restores the admin project's compute quotas).
"""

import os
import pathlib
import sys
import time
import uuid

import openstack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV_FILE = pathlib.Path(os.environ.get("NOVA_STATE_DIR", ROOT / ".nova")) / "endpoints.env"


def load_env():
    env = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export ") :].split("=", 1)
                env[k] = v
    env.update({k: v for k, v in os.environ.items() if k.startswith("NOVA_")})
    if "NOVA_AUTH_URL" not in env:
        sys.exit(f"no {ENV_FILE}: run deploy/nova/start.sh first")
    return env


def connect(env):
    """The recipe: Keystone password auth, the catalog gives every endpoint."""
    return openstack.connection.Connection(
        auth_url=env["NOVA_AUTH_URL"],  # http://127.0.0.1:5000/v3
        username=env["NOVA_USERNAME"],  # admin
        password=env["NOVA_PASSWORD"],  # secret
        project_name=env["NOVA_PROJECT_NAME"],  # admin
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=env.get("NOVA_REGION", "RegionOne"),
        interface="public",
    )


T0 = time.monotonic()
STEPS = []


class step:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t = time.monotonic()
        print(f"-- {self.name} ...", flush=True)

    def __exit__(self, *exc):
        dt = time.monotonic() - self.t
        STEPS.append((self.name, dt, exc[0] is None))
        print(f"   {self.name}: {dt:.2f}s{'' if exc[0] is None else ' FAILED'}", flush=True)
        return False


def wait_status(conn, server, wanted, timeout=120):
    """Poll until the server reaches one of `wanted` (or ERROR)."""
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server.id)
        if server.status in wanted or server.status == "ERROR":
            return server
        if time.monotonic() > deadline:
            raise TimeoutError(f"server {server.id} stuck in {server.status}/{server.task_state}")
        time.sleep(0.5)


def free_capacity(conn):
    """Free VCPU / MEMORY_MB of the (single) fake host, from Placement."""
    rp = next(iter(conn.placement.resource_providers()))
    inv = conn.placement.get(f"/resource_providers/{rp.id}/inventories").json()["inventories"]
    use = conn.placement.get(f"/resource_providers/{rp.id}/usages").json()["usages"]

    def free(rc):
        i = inv[rc]
        return int((i["total"] - i["reserved"]) * i["allocation_ratio"]) - use.get(rc, 0)

    return rp.name, free("VCPU"), free("MEMORY_MB"), free("DISK_GB")


def main():
    env = load_env()
    tag = "smoke-" + uuid.uuid4().hex[:6]
    conn = connect(env)
    made = {"servers": [], "flavors": [], "keypair": None, "sg": None}
    project_id = conn.current_project_id
    old_quota = None
    try:
        with step("connect + list hypervisors"):
            hvs = list(conn.compute.hypervisors())
            print(f"   hypervisors: {[h.name for h in hvs]}")
            image = conn.image.find_image(env.get("NOVA_IMAGE_NAME", "cirros"), ignore_missing=False)
            print(f"   image: {image.name} {image.id}")

        with step("create flavors"):
            small = conn.compute.create_flavor(name=f"{tag}-small", ram=512, vcpus=1, disk=1)
            made["flavors"].append(small)
            big = conn.compute.create_flavor(name=f"{tag}-big", ram=1024, vcpus=2, disk=2)
            made["flavors"].append(big)

        with step("create keypair"):
            pub = (
                ed25519.Ed25519PrivateKey.generate()
                .public_key()
                .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                .decode()
            )
            kp = conn.compute.create_keypair(name=f"{tag}-key", public_key=pub)
            made["keypair"] = kp

        with step("create security group (Neutron)"):
            sg = conn.network.create_security_group(name=f"{tag}-sg", description="smoke")
            made["sg"] = sg
            conn.network.create_security_group_rule(
                security_group_id=sg.id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                port_range_min=22,
                port_range_max=22,
            )

        with step("boot server (networks=none) -> ACTIVE"):
            srv = conn.compute.create_server(
                name=f"{tag}-vm",
                image_id=image.id,
                flavor_id=small.id,
                networks="none",
                key_name=kp.name,
                security_groups=[{"name": sg.name}],
            )
            made["servers"].append(srv)
            srv = wait_status(conn, srv, {"ACTIVE"})
            if srv.status != "ACTIVE":
                raise RuntimeError(f"boot failed: {srv.fault}")
            print(
                f"   {srv.id} ACTIVE on {srv.compute_host} flavor={srv.flavor.name} "
                f"key={srv.key_name} sgs={srv.security_groups}"
            )

        with step("diagnostics (admin)"):
            diag = conn.compute.get_server_diagnostics(srv)
            print(
                f"   state={diag.state} driver={diag.driver} cpus={len(diag.cpu_details or [])} "
                f"memory_details={diag.memory_details}"
            )

        with step("resize -> VERIFY_RESIZE"):
            conn.compute.resize_server(srv, big.id)
            srv = wait_status(conn, srv, {"VERIFY_RESIZE"})
            if srv.status != "VERIFY_RESIZE":
                raise RuntimeError(f"resize failed: {srv.fault}")

        with step("confirm resize -> ACTIVE"):
            conn.compute.confirm_server_resize(srv)
            deadline = time.monotonic() + 60
            while True:
                srv = conn.compute.get_server(srv.id)
                if srv.status == "ACTIVE" and srv.flavor.name == big.name:
                    break
                if srv.status == "ERROR" or time.monotonic() > deadline:
                    raise RuntimeError(f"confirm failed: {srv.status} {srv.fault}")
                time.sleep(0.5)
            print(f"   flavor now {srv.flavor.name} ({srv.flavor.vcpus} vcpu, {srv.flavor.ram} MB)")

        with step("delete -> gone"):
            conn.compute.delete_server(srv)
            conn.compute.wait_for_delete(srv, interval=0.5, wait=120)
            made["servers"].remove(made["servers"][0])

        with step("fill the host until NoValidHost"):
            host, vcpu, ram, disk = free_capacity(conn)
            per = max(1, vcpu // 3)
            fill = conn.compute.create_flavor(
                name=f"{tag}-fill", vcpus=per, ram=max(64, ram // (2 * (vcpu // per + 1))), disk=1
            )
            made["flavors"].append(fill)
            print(f"   host {host}: free {vcpu} VCPU, {ram} MB, {disk} GB; flavor {per} vcpu")
            q = conn.compute.get_quota_set(project_id)
            old_quota = {"instances": q.instances, "cores": q.cores, "ram": q.ram}
            conn.compute.update_quota_set(project_id, instances=-1, cores=-1, ram=-1)
            fault = None
            for i in range(vcpu // per + 2):
                s = conn.compute.create_server(
                    name=f"{tag}-fill-{i}", image_id=image.id, flavor_id=fill.id, networks="none"
                )
                made["servers"].append(s)
                s = wait_status(conn, s, {"ACTIVE"})
                print(f"   boot {i}: {s.status}")
                if s.status == "ERROR":
                    fault = s.fault
                    break
            if not fault:
                raise RuntimeError("host never filled up")
            print(f"   fault: {fault.get('code')} {fault.get('message')}")
            if "No valid host" not in fault.get("message", ""):
                raise RuntimeError("expected NoValidHost")
    finally:
        with step("cleanup"):
            for s in made["servers"]:
                conn.compute.delete_server(s, ignore_missing=True)
            for s in made["servers"]:
                conn.compute.wait_for_delete(s, interval=0.5, wait=120)
            for f in made["flavors"]:
                conn.compute.delete_flavor(f, ignore_missing=True)
            if made["keypair"]:
                conn.compute.delete_keypair(made["keypair"], ignore_missing=True)
            if made["sg"]:
                conn.network.delete_security_group(made["sg"], ignore_missing=True)
            if old_quota:
                conn.compute.update_quota_set(project_id, **old_quota)
        print("\ntimings:")
        for name, dt, ok in STEPS:
            print(f"  {dt:7.2f}s  {'ok  ' if ok else 'FAIL'}  {name}")
        print(f"  {time.monotonic() - T0:7.2f}s  total")


if __name__ == "__main__":
    main()
