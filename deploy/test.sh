#!/usr/bin/env bash
# The whole test suite against the machine's PostgreSQL and Redis, plus the project's checks.
# Extra arguments go to pytest (e.g. deploy/test.sh tests/owners -k window).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv "$ROOT/requirements-dev.txt"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/marketplace}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"

if ! command -v chromium >/dev/null && [ -z "${CHROMIUM_PATH:-}" ]; then
    log "chromium is not installed: browser tests need Debian's chromium (apt-get install chromium)"
    exit 1
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    log "nginx is not installed: tests/transit runs the production TLS front (apt-get install nginx)"
    exit 1
fi

log "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check . >/dev/null || { "$VENV/bin/ruff" format --check .; exit 1; }
log "import layers"
"$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache
log "import circles (lazy imports included)"
# IMPORT_CYCLES_CHECK=warn prints the circles without failing the run.
if [ "${IMPORT_CYCLES_CHECK:-}" = warn ]; then
    "$PY" deploy/check_import_cycles.py --warn
else
    "$PY" deploy/check_import_cycles.py
fi
log "mypy (every app)"
"$VENV/bin/mypy" ${MYPY_MODULES:-marketplace accounts audit owners renters scheduling provisioning billing demo webhooks notifications}
"$VENV/bin/mypy" --strict clients/python/slicemarket
log "django checks"
"$PY" manage.py check
"$PY" manage.py makemigrations --check --dry-run >/dev/null || { "$PY" manage.py makemigrations --check --dry-run; exit 1; }
# The provisioning integration tests drive a real Nova (deploy/nova). Start it when its MariaDB and
# RabbitMQ are here (SKIP_NOVA=1 to leave it out); stop it afterwards if this run started it.
if [ "${SKIP_NOVA:-}" != 1 ] && port_open 127.0.0.1 3306 && port_open 127.0.0.1 5672; then
    if bash deploy/nova/status.sh >/dev/null 2>&1; then
        log "Nova control plane already running"
    else
        log "starting the Nova control plane (first time: ~2 min to install)"
        trap 'bash deploy/nova/stop.sh >/dev/null 2>&1 || true' EXIT
        if ! bash deploy/nova/start.sh >"${TMPDIR:-/tmp}/nova-start.log" 2>&1; then
            log "Nova did not start; retrying once (log: ${TMPDIR:-/tmp}/nova-start.log)"
            tail -20 "${TMPDIR:-/tmp}/nova-start.log" >&2
            bash deploy/nova/stop.sh >/dev/null 2>&1 || true
            bash deploy/nova/start.sh
        fi
    fi
elif [ -n "${NOVA_REQUIRED:-}" ]; then
    log "NOVA_REQUIRED is set but MariaDB/RabbitMQ are not reachable for the Nova control plane"
    exit 1
fi

log "pytest"
set +e
"$VENV/bin/pytest" "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
[ "$status" = 5 ] && { log "no tests ran"; exit 1; }
exit "$status"
