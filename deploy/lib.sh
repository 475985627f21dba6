# Shared helpers for deploy/run.sh and deploy/test.sh (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1m[marketplace]\033[0m %s\n' "$*" >&2; }

# Create the virtualenv and install a requirements file, skipping pip when nothing changed.
ensure_venv() {
    local reqs="$1" stamp
    if [ ! -x "$PY" ]; then
        log "creating virtualenv in .venv"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip
    fi
    stamp="$VENV/.installed-$(basename "$reqs")-$(cat "$ROOT/requirements.txt" "$reqs" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        log "installing $(basename "$reqs") (first run takes a minute)"
        "$VENV/bin/pip" install -q -r "$reqs"
        touch "$stamp"
    fi
}

# True when something answers TCP on host:port.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

redis_reachable() {
    local url="$1" hostport host port
    hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"  # redis:// or rediss://
    host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
    port_open "$host" "$port"
}

# Run a command as the 'postgres' system user when we are root (PostgreSQL refuses to run as root).
as_pg_user() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    command -v initdb >/dev/null && dirname "$(command -v initdb)"
}
