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

log "ruff"
"$VENV/bin/ruff" check .
log "import layers"
"$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache
log "mypy (domain modules)"
"$VENV/bin/mypy" ${MYPY_MODULES:-marketplace accounts audit owners renters}
log "django checks"
"$PY" manage.py check
"$PY" manage.py makemigrations --check --dry-run >/dev/null || { "$PY" manage.py makemigrations --check --dry-run; exit 1; }
log "pytest"
set +e
"$VENV/bin/pytest" "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
[ "$status" = 5 ] && { log "no tests ran"; exit 1; }
exit "$status"
