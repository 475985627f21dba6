#!/usr/bin/env bash
# Start the whole marketplace: database, broker, migrations, demo data, web, Celery worker and beat.
#
#   DATABASE_URL unset -> an embedded PostgreSQL in .data/postgres (the machine's PostgreSQL binaries,
#                         run with initdb/pg_ctl as a private cluster on 127.0.0.1:${EMBEDDED_PG_PORT:-54329}).
#   REDIS_URL reachable -> used as broker and cache; otherwise a private redis-server if the binary exists,
#                         otherwise Celery's filesystem transport in .data/broker (tasks still run).
# Ctrl-C stops everything this script started; a second run reuses .data.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
DATA="${MARKETPLACE_DATA_DIR:-$ROOT/.data}"
REDIS_SERVER_BIN="${REDIS_SERVER_BIN:-redis-server}"
mkdir -p "$DATA/logs"
PORT="${PORT:-8000}"
STARTED_PG=""; STARTED_REDIS=""; PIDS=()

CLEANED=""
cleanup() {
    [ -n "$CLEANED" ] && return
    CLEANED=1
    log "stopping…"
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$STARTED_REDIS" ]; then
        kill -TERM "$(cat "$DATA/redis.pid")" 2>/dev/null || true
    fi
    if [ -n "$STARTED_PG" ]; then
        as_pg_user "$(pg_bin)/pg_ctl" -D "$DATA/postgres" -m fast -w stop >/dev/null || true
    fi
    log "stopped."
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

ensure_venv "$ROOT/requirements.txt"

# ---- database ---------------------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
    PGPORT_EMB="${EMBEDDED_PG_PORT:-54329}"
    BIN="$(pg_bin)"; [ -n "$BIN" ] || { log "no PostgreSQL binaries found: install Debian's postgresql or set DATABASE_URL"; exit 1; }
    PGDATA="$DATA/postgres"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "initialising embedded PostgreSQL in $PGDATA"
        mkdir -p "$PGDATA"
        [ "$(id -u)" = "0" ] && chown -R postgres:postgres "$PGDATA"
        as_pg_user "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    mkdir -p "$DATA/pg-socket"; [ "$(id -u)" = "0" ] && chown postgres:postgres "$DATA/pg-socket"
    if as_pg_user "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        log "embedded PostgreSQL already running"
    else
        log "starting embedded PostgreSQL on 127.0.0.1:$PGPORT_EMB"
        as_pg_user "$BIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/server.log" \
            -o "-p $PGPORT_EMB -c listen_addresses=127.0.0.1 -k $DATA/pg-socket" start >/dev/null
        STARTED_PG=1
    fi
    psql -h 127.0.0.1 -p "$PGPORT_EMB" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='marketplace'" \
        | grep -q 1 || psql -h 127.0.0.1 -p "$PGPORT_EMB" -U postgres -qc "CREATE DATABASE marketplace"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT_EMB/marketplace"
    # Its own cluster on loopback: no network to encrypt (settings refuse plain text with DEBUG off otherwise).
    export DATABASE_ALLOW_INSECURE="${DATABASE_ALLOW_INSECURE:-true}"
fi

# ---- broker -----------------------------------------------------------------------------------
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
if redis_reachable "$REDIS_URL"; then
    log "using Redis at $REDIS_URL"
elif command -v "$REDIS_SERVER_BIN" >/dev/null; then
    REDIS_URL="redis://127.0.0.1:${EMBEDDED_REDIS_PORT:-63799}/0"
    export REDIS_ALLOW_INSECURE="${REDIS_ALLOW_INSECURE:-true}"  # its own server on loopback
    if ! redis_reachable "$REDIS_URL"; then
        log "starting a private redis-server on $REDIS_URL"
        "$REDIS_SERVER_BIN" --daemonize yes --bind 127.0.0.1 --port "${EMBEDDED_REDIS_PORT:-63799}" --save "" \
            --appendonly no --dir "$DATA" --pidfile "$DATA/redis.pid" --logfile "$DATA/logs/redis.log"
        STARTED_REDIS=1
        for _ in $(seq 50); do redis_reachable "$REDIS_URL" && break; sleep 0.1; done
    fi
else
    log "no Redis: using Celery's filesystem transport in $DATA/broker (see README)"
    export CELERY_BROKER_URL="filesystem://" CELERY_FILESYSTEM_DIR="$DATA/broker"
fi
export REDIS_URL

# ---- demo -------------------------------------------------------------------------------------
# The demo app (manage.py devstripe, seed_demo) is installed only with DJANGO_DEBUG on, the default here.
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
case "$(echo "$DJANGO_DEBUG" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')" in
    1 | true | yes | on) DEMO=1 ;;
    *) DEMO="" ;;
esac

# ---- payments ---------------------------------------------------------------------------------
# Without a configured Stripe, the demo runs localstripe (plus a Connect stand-in, demo/stripe_connect.py)
# on 127.0.0.1.
if [ -z "${STRIPE_API_BASE:-}" ] && [ -n "$DEMO" ]; then
    STRIPE_PORT="${DEVSTRIPE_PORT:-8420}"
    export STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT" STRIPE_JS_URL="http://127.0.0.1:$STRIPE_PORT/js.stripe.com/v3/"
    "$PY" manage.py devstripe --port "$STRIPE_PORT" --state "$DATA/localstripe.pickle" \
        --webhook-url "http://127.0.0.1:$PORT/billing/webhooks/stripe" >"$DATA/logs/devstripe.log" 2>&1 &
    PIDS+=($!)
    log "local Stripe-compatible server (localstripe) on $STRIPE_API_BASE"
fi

# ---- app --------------------------------------------------------------------------------------
# Reuse database connections across requests (a new connection per request halves API throughput).
export DATABASE_CONN_MAX_AGE="${DATABASE_CONN_MAX_AGE:-60}"
"$PY" manage.py migrate --noinput >/dev/null
if [ -n "$DEMO" ]; then
    "$PY" manage.py seed_demo
else
    log "DJANGO_DEBUG is off: no demo data and no development Stripe (the demo app is not installed)"
fi

# One single-threaded (sync) worker per core: requests are CPU-bound Python, and on this 2-core machine
# that serves the search API at ~540-650 req/s with p99 ~35-48 ms for 16 clients (bench/search.py);
# with 2 workers x 4 threads it was ~230 req/s and p99 ~180 ms (threads contend for the GIL, and
# keep-alive pins clients to one worker). The trade-off: a worker waiting on Stripe
# (STRIPE_TIMEOUT_SECONDS) serves nothing else meanwhile; raise WEB_WORKERS, or WEB_THREADS
# (gthread), for portal-heavy use. deploy/gunicorn.conf.py holds the rest of gunicorn's settings.
WEB_WORKERS="${WEB_WORKERS:-$(nproc)}"
WEB_THREADS="${WEB_THREADS:-1}"
"$VENV/bin/gunicorn" marketplace.wsgi:application --config deploy/gunicorn.conf.py --bind "127.0.0.1:$PORT" \
    --workers "$WEB_WORKERS" --threads "$WEB_THREADS" \
    --access-logfile "$DATA/logs/web-access.log" --error-logfile "$DATA/logs/web.log" &
PIDS+=($!)
"$VENV/bin/celery" -A marketplace worker --loglevel=INFO --concurrency=2 -n "worker-$PORT@%h" >"$DATA/logs/worker.log" 2>&1 &
PIDS+=($!)
# Webhook deliveries have their own queue and workers (marketplace/settings.py CELERY_TASK_QUEUES): an
# event never waits behind provisioning, billing or e-mail tasks. The worker above takes both queues,
# this one only "webhooks" (bench/webhooks.py measures the pair). WEBHOOK_WORKERS=0 leaves it out.
WEBHOOK_WORKERS="${WEBHOOK_WORKERS:-2}"
if [ "$WEBHOOK_WORKERS" -gt 0 ]; then
    "$VENV/bin/celery" -A marketplace worker --loglevel=INFO --concurrency="$WEBHOOK_WORKERS" -Q webhooks \
        -n "webhooks-$PORT@%h" >"$DATA/logs/webhooks-worker.log" 2>&1 &
    PIDS+=($!)
fi
"$VENV/bin/celery" -A marketplace beat --loglevel=INFO --schedule "$DATA/celerybeat-schedule" >"$DATA/logs/beat.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 100); do port_open 127.0.0.1 "$PORT" && break; sleep 0.1; done
log "the marketplace is up: http://127.0.0.1:$PORT/   (admin: http://127.0.0.1:$PORT/admin/)"
log "database: ${DATABASE_URL}   broker: ${CELERY_BROKER_URL:-$REDIS_URL}   logs: $DATA/logs/"
log "Ctrl-C stops everything this command started."
# Exit (and clean up) as soon as any one process dies, so a broken stack does not look alive.
wait -n "${PIDS[@]}" || true
log "a process exited; see $DATA/logs/"
