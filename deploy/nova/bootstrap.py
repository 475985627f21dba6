"""Idempotent post-start steps for the local OpenStack (run by start.sh).

Runs with the .nova/venv python (openstacksdk comes with nova there).

  bootstrap.py catalog   service project/users/roles, services, endpoints,
                         a non-admin "demo" project and user
  bootstrap.py compute PIDFILE  wait for nova-compute to report up (prints nothing)
  bootstrap.py hypervisor  wait until a hypervisor is listed
  bootstrap.py image     ensure the small "cirros" image exists in Glance
  bootstrap.py env FILE  write the shell export lines for tests
"""

import os
import sys
import time

import openstack

HOST = os.environ.get("OS_LOCAL_HOST", "127.0.0.1")
PASSWORD = os.environ.get("NOVA_DEV_PASSWORD", "secret")
REGION = "RegionOne"
PORTS = {
    "identity": int(os.environ.get("KEYSTONE_PORT", 5000)),
    "compute": int(os.environ.get("NOVA_API_PORT", 8774)),
    "placement": int(os.environ.get("PLACEMENT_PORT", 8778)),
    "image": int(os.environ.get("GLANCE_PORT", 9292)),
    "network": int(os.environ.get("NEUTRON_PORT", 9696)),
}
URLS = {
    "identity": f"http://{HOST}:{PORTS['identity']}/v3",
    "compute": f"http://{HOST}:{PORTS['compute']}/v2.1",
    "placement": f"http://{HOST}:{PORTS['placement']}",
    "image": f"http://{HOST}:{PORTS['image']}",
    "network": f"http://{HOST}:{PORTS['network']}",
}
SERVICES = {
    # type: (service name, service user)
    "compute": ("nova", "nova"),
    "placement": ("placement", "placement"),
    "image": ("glance", "glance"),
    "network": ("neutron", "neutron"),
}
IMAGE_NAME = os.environ.get("NOVA_IMAGE_NAME", "cirros")


def admin_conn():
    return openstack.connection.Connection(
        auth_url=URLS["identity"],
        username="admin",
        password=PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        interface="public",
        compute_api_version="2.1",
    )


def _find_or_create(find, create, name, **attrs):
    obj = find(name)
    if obj is None:
        obj = create(name=name, **attrs)
    return obj


def catalog():
    conn = admin_conn()
    ident = conn.identity
    domain = ident.find_domain("default")
    roles = {r.name: r for r in ident.roles()}
    for rname in ("admin", "member", "reader", "service"):
        if rname not in roles:
            roles[rname] = ident.create_role(name=rname)

    def project(name):
        return _find_or_create(
            lambda n: ident.find_project(n, domain_id=domain.id), ident.create_project, name, domain_id=domain.id
        )

    def user(name, proj):
        return _find_or_create(
            lambda n: ident.find_user(n, domain_id=domain.id),
            ident.create_user,
            name,
            domain_id=domain.id,
            password=PASSWORD,
            default_project_id=proj.id,
        )

    service_project = project("service")
    for _stype, (_sname, uname) in SERVICES.items():
        u = user(uname, service_project)
        for rname in ("admin", "service"):
            ident.assign_project_role_to_user(service_project, u, roles[rname])

    demo_project = project("demo")
    demo = user("demo", demo_project)
    for rname in ("member", "reader"):
        ident.assign_project_role_to_user(demo_project, demo, roles[rname])

    existing = list(ident.services())
    for stype, (sname, _u) in SERVICES.items():
        svc = next((s for s in existing if s.type == stype), None)
        if svc is None:
            svc = ident.create_service(name=sname, type=stype, is_enabled=True)
        eps = list(ident.endpoints(service_id=svc.id))
        for iface in ("public", "internal", "admin"):
            ep = next((e for e in eps if e.interface == iface), None)
            if ep is None:
                ident.create_endpoint(service_id=svc.id, interface=iface, url=URLS[stype], region_id=REGION)
            elif ep.url != URLS[stype]:
                ident.update_endpoint(ep, url=URLS[stype])
    print("catalog ok")


def _wait(what, probe, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as exc:  # service still starting
            last = exc
        time.sleep(1)
    sys.exit(f"timed out after {timeout}s waiting for {what}: {last!r}")


def compute(pidfile, timeout=180):
    conn = admin_conn()
    with open(pidfile) as fh:
        pid = int(fh.read().strip())

    def up():
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit("nova-compute exited; see .nova/log/nova-compute.log")
        return any(s.binary == "nova-compute" and s.state == "up" for s in conn.compute.services())

    _wait("nova-compute service up", up, timeout)


def hypervisor(timeout=180):
    conn = admin_conn()
    _wait("a hypervisor to be listed", lambda: len(list(conn.compute.hypervisors())) > 0, timeout)
    # Placement must know the provider too, or the first boot fails.
    placement = conn.placement

    want = {
        "VCPU": (int(os.environ.get("NOVA_FAKE_VCPUS", 16)), float(os.environ.get("NOVA_CPU_ALLOCATION_RATIO", 1.0))),
        "MEMORY_MB": (
            int(os.environ.get("NOVA_FAKE_MEMORY_MB", 32768)),
            float(os.environ.get("NOVA_RAM_ALLOCATION_RATIO", 1.0)),
        ),
        "DISK_GB": (
            int(os.environ.get("NOVA_FAKE_DISK_GB", 500)),
            float(os.environ.get("NOVA_DISK_ALLOCATION_RATIO", 1.0)),
        ),
    }

    def rp():
        # the provider exists and reports the size nova-compute was started with
        rps = list(placement.resource_providers())
        if len(rps) != 1:
            return False
        inv = placement.get(f"/resource_providers/{rps[0].id}/inventories").json()["inventories"]
        return all(
            rc in inv and inv[rc]["total"] == total and abs(inv[rc]["allocation_ratio"] - ratio) < 1e-6
            for rc, (total, ratio) in want.items()
        )

    _wait(
        "the placement resource provider with the requested size "
        "(if it shrank below current usage, delete servers first)",
        rp,
        timeout,
    )


def image():
    conn = admin_conn()
    img = conn.image.find_image(IMAGE_NAME)
    if img is not None and img.status == "active":
        print(f"image {IMAGE_NAME} {img.id} exists")
        return
    if img is not None:  # a half-made one (queued/killed): replace it
        conn.image.delete_image(img)
    data = b"\0" * 4096  # never booted: the fake driver only reads metadata
    img = conn.image.create_image(
        name=IMAGE_NAME,
        data=data,
        disk_format="raw",
        container_format="bare",
        visibility="public",
        allow_duplicates=True,
        wait=True,
    )
    print(f"image {IMAGE_NAME} {img.id} created")


def env(path):
    conn = admin_conn()
    admin_project = conn.identity.find_project("admin", domain_id="default")
    demo_project = conn.identity.find_project("demo", domain_id="default")
    img = conn.image.find_image(IMAGE_NAME)
    lines = {
        "NOVA_AUTH_URL": URLS["identity"],
        "NOVA_COMPUTE_URL": URLS["compute"],
        "NOVA_IMAGE_URL": URLS["image"],
        "NOVA_PLACEMENT_URL": URLS["placement"],
        "NOVA_NETWORK_URL": URLS["network"],
        "NOVA_REGION": REGION,
        "NOVA_TOKEN_USER": "admin",
        "NOVA_USERNAME": "admin",
        "NOVA_PASSWORD": PASSWORD,
        "NOVA_PROJECT_NAME": "admin",
        "NOVA_PROJECT_ID": admin_project.id,
        "NOVA_DEMO_USERNAME": "demo",
        "NOVA_DEMO_PROJECT_NAME": "demo",
        "NOVA_DEMO_PROJECT_ID": demo_project.id,
        "NOVA_IMAGE_NAME": IMAGE_NAME,
        "NOVA_IMAGE_ID": img.id if img else "",
        # standard names, so openstack.connect() / the CLI work as is
        "OS_AUTH_URL": URLS["identity"],
        "OS_USERNAME": "admin",
        "OS_PASSWORD": PASSWORD,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": REGION,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_INTERFACE": "public",
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("# written by deploy/nova/start.sh\n")
        for k, v in lines.items():
            fh.write(f"export {k}={v}\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "catalog":
        catalog()
    elif cmd == "compute":
        compute(sys.argv[2])
    elif cmd == "hypervisor":
        hypervisor()
    elif cmd == "image":
        image()
    elif cmd == "env":
        env(sys.argv[2])
    else:
        sys.exit(__doc__)
