#!/usr/bin/env bash
# Start a real, local OpenStack compute control plane (Nova with its fake virt
# driver) for integration tests: Keystone, Placement, Glance, Neutron (API
# only), nova-api, nova-conductor, nova-scheduler, nova-compute.
#
# Idempotent: a second run starts nothing that is already running.
# State lives in $NOVA_STATE_DIR (default <repo>/.nova): venv, etc, log, pids,
# data.  Databases live in the local MariaDB.  Everything binds 127.0.0.1.
#
# Host size of the fake hypervisor (read when nova-compute starts; to change
# it: stop.sh, then start.sh with new values):
#   NOVA_FAKE_VCPUS (16) NOVA_FAKE_MEMORY_MB (32768) NOVA_FAKE_DISK_GB (500)
#   NOVA_CPU_ALLOCATION_RATIO (1.0) NOVA_RAM_ALLOCATION_RATIO (1.0)
#   NOVA_DISK_ALLOCATION_RATIO (1.0)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${NOVA_STATE_DIR:-$ROOT/.nova}"
VENV="$STATE/venv"
ETC="$STATE/etc"
LOG="$STATE/log"
PIDS="$STATE/pids"
DATA="$STATE/data"
PY_BASE="${NOVA_BASE_PYTHON:-/usr/bin/python3}"
[ -x "$PY_BASE" ] || PY_BASE="$(command -v python3)"

export OS_LOCAL_HOST=127.0.0.1
H=127.0.0.1
export KEYSTONE_PORT="${KEYSTONE_PORT:-5000}"
export NOVA_API_PORT="${NOVA_API_PORT:-8774}"
export PLACEMENT_PORT="${PLACEMENT_PORT:-8778}"
export GLANCE_PORT="${GLANCE_PORT:-9292}"
export NEUTRON_PORT="${NEUTRON_PORT:-9696}"
export NOVA_DEV_PASSWORD="${NOVA_DEV_PASSWORD:-secret}"
PW="$NOVA_DEV_PASSWORD"
export NOVA_FAKE_VCPUS="${NOVA_FAKE_VCPUS:-16}"
export NOVA_FAKE_MEMORY_MB="${NOVA_FAKE_MEMORY_MB:-32768}"
export NOVA_FAKE_DISK_GB="${NOVA_FAKE_DISK_GB:-500}"
export NOVA_CPU_ALLOCATION_RATIO="${NOVA_CPU_ALLOCATION_RATIO:-1.0}"
export NOVA_RAM_ALLOCATION_RATIO="${NOVA_RAM_ALLOCATION_RATIO:-1.0}"
export NOVA_DISK_ALLOCATION_RATIO="${NOVA_DISK_ALLOCATION_RATIO:-1.0}"
CPU_RATIO="$NOVA_CPU_ALLOCATION_RATIO"
RAM_RATIO="$NOVA_RAM_ALLOCATION_RATIO"
DISK_RATIO="$NOVA_DISK_ALLOCATION_RATIO"
DB_HOST="${NOVA_DB_HOST:-127.0.0.1}"
DB_PORT="${NOVA_DB_PORT:-3306}"
DB_USER="${NOVA_DB_USER:-root}"
DB_PASS="${NOVA_DB_PASSWORD:-}"
RABBIT_URL="${NOVA_TRANSPORT_URL:-rabbit://guest:guest@127.0.0.1:5672/}"
COMPUTE_HOST="${NOVA_COMPUTE_HOST:-fake-compute-1}"

T0=$(date +%s)
log() { printf '[nova-start %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "nova-start: ERROR: $*" >&2; exit 1; }

mkdir -p "$ETC" "$LOG" "$PIDS" "$DATA"

# Serialise concurrent runs.
exec 9>"$STATE/.start.lock"
flock -w 900 9 || die "another start.sh is still running"

# ---------------------------------------------------------------- venv ---
REQ="$HERE/requirements.txt"
REQ_SUM="$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.req-sum" 2>/dev/null)" != "$REQ_SUM" ]; then
    log "installing $VENV from requirements.txt (one-off, ~1-2 min)"
    [ -x "$VENV/bin/python" ] || "$PY_BASE" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" \
        >"$LOG/pip-install.log" 2>&1 || { tail -30 "$LOG/pip-install.log"; die "pip install failed"; }
    echo "$REQ_SUM" >"$VENV/.req-sum"
fi
B="$VENV/bin"
PY="$B/python"
# nova loads compute drivers only from the nova.virt package: link ours in.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ln -sfn "$HERE/sized_fake.py" "$SITE/nova/virt/sized_fake.py"

# -------------------------------------------------------------- helpers ---
pid_alive() {  # name -> 0 if its recorded process group leader is alive
    local f="$PIDS/$1.pid" pid
    [ -f "$f" ] || return 1
    pid="$(cat "$f")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # guard against PID reuse: the process must be ours (state dir in its env/cmd)
    grep -qa "$STATE" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$H/$1") 2>/dev/null; }

# start NAME CMD...   (own session/process group, logs to $LOG/NAME.log)
start_proc() {
    local name="$1"; shift
    if pid_alive "$name"; then
        log "$name already running (pid $(cat "$PIDS/$name.pid"))"
        return 0
    fi
    log "starting $name"
    NOVA_STATE_MARK="$STATE" PYTHONPATH="$HERE" \
        setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDS/$name.pid"
}

# uwsgi NAME PORT MODULE CONFIG_ENV...
start_wsgi() {
    local name="$1" port="$2" module="$3"; shift 3
    if ! pid_alive "$name" && port_open "$port"; then
        die "port $H:$port is taken by a process start.sh did not start ($name)"
    fi
    start_proc "$name" env "$@" "$B/uwsgi" \
        --master --processes 1 --threads 8 --enable-threads --lazy-apps \
        --http-socket "$H:$port" --module "$module" --need-app \
        --die-on-term --buffer-size 65535 --add-header "Connection: close" --disable-logging \
        --http-auto-chunked --http-chunked-input --http-raw-body \
        --worker-reload-mercy 5 --reload-mercy 5 \
        --procname-prefix-spaced "[$name]" --venv "$VENV" \
        --env "NOVA_STATE_MARK=$STATE"
}

wait_http() {  # name url [timeout]
    local name="$1" url="$2" t="${3:-120}" i=0
    until curl -s -o /dev/null -m 5 "$url"; do
        i=$((i + 1))
        if ! pid_alive "$name"; then
            tail -40 "$LOG/$name.log" >&2 || true
            die "$name exited during start (see $LOG/$name.log)"
        fi
        [ "$i" -lt "$t" ] || die "$name did not answer $url within ${t}s"
        sleep 1
    done
    log "$name answers on $url"
}

db_url() { echo "mysql+pymysql://$DB_USER${DB_PASS:+:$DB_PASS}@$DB_HOST:$DB_PORT/$1?charset=utf8"; }

# ------------------------------------------------------------- configs ---
ks_authtoken() {  # section body for keystonemiddleware + ksa password auth
    cat <<EOF
www_authenticate_uri = http://$H:$KEYSTONE_PORT/v3
auth_url = http://$H:$KEYSTONE_PORT/v3
auth_type = password
username = $1
password = $PW
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
service_token_roles_required = true
EOF
}
ksa_password() {  # keystoneauth client section (nova -> placement/neutron)
    cat <<EOF
auth_url = http://$H:$KEYSTONE_PORT/v3
auth_type = password
username = $1
password = $PW
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
valid_interfaces = internal,public
EOF
}

write_configs() {
    mkdir -p "$ETC"/{keystone,placement,glance,neutron/plugins/ml2,nova} \
        "$DATA"/{keystone/fernet-keys,keystone/credential-keys,glance/images,glance/staging,glance/tasks,nova,locks}
    chmod 700 "$DATA/keystone/fernet-keys" "$DATA/keystone/credential-keys"

    cat >"$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = $(db_url keystone)
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $DATA/keystone/fernet-keys
[credential]
key_repository = $DATA/keystone/credential-keys
[oslo_policy]
enforce_new_defaults = true
EOF

    cat >"$ETC/placement/placement.conf" <<EOF
[DEFAULT]
use_stderr = true
[api]
auth_strategy = keystone
[placement_database]
connection = $(db_url placement)
[keystone_authtoken]
$(ks_authtoken placement)
EOF

    cat >"$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
use_stderr = true
bind_host = $H
bind_port = $GLANCE_PORT
enabled_backends = fs:file
worker_self_reference_url = http://$H:$GLANCE_PORT
show_image_direct_url = false
[database]
connection = $(db_url glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DATA/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $DATA/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $DATA/glance/tasks
[paste_deploy]
flavor = keystone
config_file = $ETC/glance/glance-api-paste.ini
[keystone_authtoken]
$(ks_authtoken glance)
[oslo_concurrency]
lock_path = $DATA/locks
EOF
    cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/"

    cat >"$ETC/neutron/neutron.conf" <<EOF
[DEFAULT]
use_stderr = true
bind_host = $H
bind_port = $NEUTRON_PORT
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = $RABBIT_URL
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
state_path = $DATA/neutron
api_paste_config = $ETC/neutron/api-paste.ini
[database]
connection = $(db_url neutron)
[keystone_authtoken]
$(ks_authtoken neutron)
[oslo_concurrency]
lock_path = $DATA/locks
EOF
    cat >"$ETC/neutron/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan
tenant_network_types = vlan
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199
[securitygroup]
enable_security_group = true
firewall_driver = noop
EOF
    cp "$VENV/etc/neutron/api-paste.ini" "$ETC/neutron/api-paste.ini"

    cat >"$ETC/nova/nova.conf" <<EOF
[DEFAULT]
use_stderr = true
host = $COMPUTE_HOST
my_ip = $H
state_path = $DATA/nova
instances_path = $DATA/nova/instances
transport_url = $RABBIT_URL
compute_driver = sized_fake.SizedFakeDriver
allow_resize_to_same_host = true
cpu_allocation_ratio = $CPU_RATIO
ram_allocation_ratio = $RAM_RATIO
disk_allocation_ratio = $DISK_RATIO
reserved_host_memory_mb = 0
reserved_host_disk_mb = 0
reserved_host_cpus = 0
osapi_compute_listen = $H
metadata_listen = $H
enabled_apis = osapi_compute
graceful_shutdown_timeout = 15
[api]
auth_strategy = keystone
[api_database]
connection = $(db_url nova_api)
[database]
connection = $(db_url nova)
[keystone_authtoken]
$(ks_authtoken nova)
[placement]
$(ksa_password placement)
[neutron]
$(ksa_password neutron)
[glance]
region_name = RegionOne
valid_interfaces = internal,public
num_retries = 1
[conductor]
workers = 1
[scheduler]
workers = 1
max_attempts = 1
[filter_scheduler]
track_instance_changes = false
[oslo_concurrency]
lock_path = $DATA/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[spice]
enabled = false
[serial_console]
enabled = false
[compute]
consecutive_build_service_disable_threshold = 0
EOF
    cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/api-paste.ini"
    # nova-compute must not see the databases (it talks via conductor only)
    awk '/^\[/{skip=($0=="[database]"||$0=="[api_database]")} !skip' \
        "$ETC/nova/nova.conf" >"$ETC/nova/nova-cpu.conf"
}

# ------------------------------------------------------------ databases ---
DBS="keystone placement glance neutron nova_api nova nova_cell0"
SYNC_STAMP="$DATA/.db-synced-$REQ_SUM"

dbs_exist() {  # 0 when every database exists
    "$PY" - "$DB_HOST" "$DB_PORT" "$DB_USER" "$DB_PASS" $DBS <<'EOF'
import sys, pymysql
host, port, user, pw, *names = sys.argv[1:]
c = pymysql.connect(host=host, port=int(port), user=user, password=pw)
cur = c.cursor()
cur.execute("SHOW DATABASES")
have = {r[0] for r in cur.fetchall()}
sys.exit(0 if set(names) <= have else 1)
EOF
}

create_dbs() {
    "$PY" - "$DB_HOST" "$DB_PORT" "$DB_USER" "$DB_PASS" $DBS <<'EOF'
import sys, pymysql
host, port, user, pw, *names = sys.argv[1:]
c = pymysql.connect(host=host, port=int(port), user=user, password=pw)
cur = c.cursor()
for n in names:
    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{n}` CHARACTER SET utf8")
c.commit()
EOF
}

sync_dbs() {
    local NM="$B/nova-manage --config-file $ETC/nova/nova.conf"
    log "db: keystone"
    "$B/keystone-manage" --config-file "$ETC/keystone/keystone.conf" db_sync >>"$LOG/db-sync.log" 2>&1
    log "db: placement"
    OS_PLACEMENT_CONFIG_DIR="$ETC/placement" "$B/placement-manage" \
        --config-file "$ETC/placement/placement.conf" db sync >>"$LOG/db-sync.log" 2>&1
    log "db: glance"
    "$B/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync >>"$LOG/db-sync.log" 2>&1
    log "db: neutron"
    "$B/neutron-db-manage" --config-file "$ETC/neutron/neutron.conf" \
        --config-file "$ETC/neutron/plugins/ml2/ml2_conf.ini" upgrade heads >>"$LOG/db-sync.log" 2>&1
    log "db: nova_api, cell0, cell1, nova"
    $NM api_db sync >>"$LOG/db-sync.log" 2>&1
    $NM cell_v2 map_cell0 --database_connection "$(db_url nova_cell0)" >>"$LOG/db-sync.log" 2>&1
    if ! $NM cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; then
        $NM cell_v2 create_cell --name cell1 --verbose >>"$LOG/db-sync.log" 2>&1
    fi
    $NM db sync >>"$LOG/db-sync.log" 2>&1
    touch "$SYNC_STAMP"
}

compute_identity() {
    # nova-compute refuses to start when its DB record exists but the local
    # node identity file is gone (e.g. .nova/data wiped, databases kept):
    # restore it from the database, as nova does itself on upgrade.
    [ -f "$DATA/nova/compute_id" ] && return 0
    "$PY" - "$DB_HOST" "$DB_PORT" "$DB_USER" "$DB_PASS" "$COMPUTE_HOST" "$DATA/nova/compute_id" <<'EOF'
import sys, pymysql
host, port, user, pw, node, path = sys.argv[1:]
c = pymysql.connect(host=host, port=int(port), user=user, password=pw, database="nova")
cur = c.cursor()
cur.execute("SELECT uuid FROM compute_nodes WHERE host=%s AND deleted=0", (node,))
rows = cur.fetchall()
if len(rows) == 1:
    open(path, "w").write(rows[0][0])
    print("restored compute_id", rows[0][0])
EOF
}

keystone_keys() {
    local KM="$B/keystone-manage --config-file $ETC/keystone/keystone.conf"
    [ -f "$DATA/keystone/fernet-keys/0" ] || \
        $KM fernet_setup --keystone-user root --keystone-group root >>"$LOG/db-sync.log" 2>&1
    [ -f "$DATA/keystone/credential-keys/0" ] || \
        $KM credential_setup --keystone-user root --keystone-group root >>"$LOG/db-sync.log" 2>&1
}

keystone_bootstrap() {
    "$B/keystone-manage" --config-file "$ETC/keystone/keystone.conf" bootstrap \
        --bootstrap-password "$PW" \
        --bootstrap-admin-url "http://$H:$KEYSTONE_PORT/v3" \
        --bootstrap-public-url "http://$H:$KEYSTONE_PORT/v3" \
        --bootstrap-internal-url "http://$H:$KEYSTONE_PORT/v3" \
        --bootstrap-region-id RegionOne >>"$LOG/db-sync.log" 2>&1
}

# ---------------------------------------------------------------- main ---
ALL="keystone placement glance neutron nova-api nova-conductor nova-scheduler nova-compute"
all_running() { for n in $ALL; do pid_alive "$n" || return 1; done; }

# The fake host's size is fixed when nova-compute starts: if it was asked
# for a different size than the running one has, restart nova-compute only.
HOST_SPEC="vcpus=$NOVA_FAKE_VCPUS ram=$NOVA_FAKE_MEMORY_MB disk=$NOVA_FAKE_DISK_GB ratios=$CPU_RATIO/$RAM_RATIO/$DISK_RATIO"
if pid_alive nova-compute && [ "$(cat "$PIDS/nova-compute.spec" 2>/dev/null)" != "$HOST_SPEC" ]; then
    cpid="$(cat "$PIDS/nova-compute.pid")"
    log "host size changed -> restarting nova-compute ($HOST_SPEC)"
    kill -TERM -- "-$cpid" 2>/dev/null || true
    for _ in $(seq 1 40); do pgrep -g "$cpid" >/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$cpid" 2>/dev/null || true
    rm -f "$PIDS/nova-compute.pid"
fi

if all_running && [ -f "$STATE/endpoints.env" ]; then
    log "all services already running"
else
    write_configs
    if [ -f "$SYNC_STAMP" ] && dbs_exist; then
        log "databases present and synced"
        FRESH_DB=0
    else
        create_dbs
        sync_dbs
        FRESH_DB=1
    fi
    keystone_keys
    compute_identity

    start_wsgi keystone "$KEYSTONE_PORT" keystone.wsgi.api:application \
        OS_KEYSTONE_CONFIG_DIR="$ETC/keystone"
    wait_http keystone "http://$H:$KEYSTONE_PORT/v3"
    if [ "$FRESH_DB" = 1 ] || [ ! -f "$DATA/.catalog-done" ]; then
        log "keystone bootstrap + service catalog"
        keystone_bootstrap
        "$PY" "$HERE/bootstrap.py" catalog >>"$LOG/bootstrap.log" 2>&1 \
            || { tail -20 "$LOG/bootstrap.log"; die "catalog setup failed"; }
        touch "$DATA/.catalog-done"
    fi

    start_wsgi placement "$PLACEMENT_PORT" placement.wsgi.api:application \
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement"
    start_wsgi glance "$GLANCE_PORT" glance.wsgi.api:application \
        OS_GLANCE_CONFIG_DIR="$ETC/glance"
    start_wsgi neutron "$NEUTRON_PORT" neutron.wsgi.api:application \
        OS_NEUTRON_CONFIG_DIR="$ETC/neutron" \
        "OS_NEUTRON_CONFIG_FILES=neutron.conf;plugins/ml2/ml2_conf.ini"
    start_wsgi nova-api "$NOVA_API_PORT" nova.wsgi.osapi_compute:application \
        OS_NOVA_CONFIG_DIR="$ETC/nova"
    start_proc nova-conductor "$B/nova-conductor" --config-file "$ETC/nova/nova.conf"
    start_proc nova-scheduler "$B/nova-scheduler" --config-file "$ETC/nova/nova.conf"
    start_proc nova-compute "$B/nova-compute" --config-file "$ETC/nova/nova-cpu.conf"
    echo "$HOST_SPEC" >"$PIDS/nova-compute.spec"

    wait_http placement "http://$H:$PLACEMENT_PORT/"
    wait_http glance "http://$H:$GLANCE_PORT/versions"
    wait_http neutron "http://$H:$NEUTRON_PORT/"
    wait_http nova-api "http://$H:$NOVA_API_PORT/"

    log "waiting for nova-compute to report"
    "$PY" "$HERE/bootstrap.py" compute "$PIDS/nova-compute.pid" >>"$LOG/bootstrap.log" 2>&1 \
        || { tail -20 "$LOG/bootstrap.log"; tail -30 "$LOG/nova-compute.log"; die "nova-compute did not come up"; }
    "$B/nova-manage" --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts \
        >>"$LOG/bootstrap.log" 2>&1
    "$PY" "$HERE/bootstrap.py" hypervisor >>"$LOG/bootstrap.log" 2>&1 \
        || { tail -20 "$LOG/bootstrap.log"; die "no hypervisor listed"; }
    log "hypervisor listed"
    "$PY" "$HERE/bootstrap.py" image >>"$LOG/bootstrap.log" 2>&1 \
        || { tail -20 "$LOG/bootstrap.log"; die "image setup failed"; }
    for n in $ALL; do
        pid_alive "$n" || { tail -30 "$LOG/$n.log" >&2; die "$n exited during start (see $LOG/$n.log)"; }
    done
    "$PY" "$HERE/bootstrap.py" env "$STATE/endpoints.env" >>"$LOG/bootstrap.log" 2>&1 \
        || { tail -20 "$LOG/bootstrap.log"; die "writing endpoints.env failed"; }
fi

# quick liveness check of the compute API even when nothing was started
curl -sf -m 10 -o /dev/null "http://$H:$NOVA_API_PORT/v2.1" || die "compute API not answering"
log "ready"
echo "Compute API: http://$H:$NOVA_API_PORT/v2.1   (source $STATE/endpoints.env)"
