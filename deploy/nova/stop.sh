#!/usr/bin/env bash
# Stop what deploy/nova/start.sh started, by the PIDs it recorded in
# .nova/pids/ (each service runs in its own process group, which is
# signalled as a whole).  Databases, venv, configs and images stay
# (unless --purge: see the end).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${NOVA_STATE_DIR:-$ROOT/.nova}"
PIDS="$STATE/pids"

ours() {  # pid -> 0 when the process was started by start.sh for this state dir
    grep -qa "$STATE" "/proc/$1/cmdline" "/proc/$1/environ" 2>/dev/null
}

# compute first, API servers and keystone last
ORDER="nova-compute nova-scheduler nova-conductor nova-api neutron glance placement keystone"
stopping=""
for name in $ORDER; do
    f="$PIDS/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ours "$pid"; then
        echo "stopping $name (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        stopping="$stopping $name:$pid"
    else
        rm -f "$f"
    fi
done

for _ in $(seq 1 80); do
    left=""
    for item in $stopping; do
        pid="${item#*:}"
        # the group is gone when no process is left in it
        if pgrep -g "$pid" >/dev/null 2>&1; then left="$left $item"; fi
    done
    stopping="$left"
    [ -z "$stopping" ] && break
    sleep 0.25
done
for item in $stopping; do
    name="${item%%:*}"; pid="${item#*:}"
    echo "killing $name (pid $pid) after 20s"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 20); do pgrep -g "$pid" >/dev/null 2>&1 || break; sleep 0.25; done
done
for name in $ORDER; do rm -f "$PIDS/$name.pid"; done
rm -f "$STATE/endpoints.env"
echo "stopped"

# --purge: also drop the databases and the service data (images, keys,
# compute identity); the venv stays.  The next start.sh starts from zero.
if [ "${1:-}" = "--purge" ]; then
    "$STATE/venv/bin/python" - "${NOVA_DB_HOST:-127.0.0.1}" "${NOVA_DB_PORT:-3306}" \
        "${NOVA_DB_USER:-root}" "${NOVA_DB_PASSWORD:-}" <<'EOF'
import sys, pymysql
host, port, user, pw = sys.argv[1:]
c = pymysql.connect(host=host, port=int(port), user=user, password=pw)
cur = c.cursor()
for n in ("keystone", "placement", "glance", "neutron", "nova_api", "nova", "nova_cell0"):
    cur.execute(f"DROP DATABASE IF EXISTS `{n}`")
EOF
    rm -rf "$STATE/data" "$STATE/etc"
    echo "purged databases and $STATE/data"
fi
