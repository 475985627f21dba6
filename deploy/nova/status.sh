#!/usr/bin/env bash
# Show the services start.sh started: pid, state, RSS of the whole process
# group (uwsgi master + worker, conductor/scheduler parent + workers).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${NOVA_STATE_DIR:-$ROOT/.nova}"
total=0
running=0
for name in keystone placement glance neutron nova-api nova-conductor nova-scheduler nova-compute; do
    f="$STATE/pids/$name.pid"
    pid="$(cat "$f" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kb=$(ps -o rss= -g "$pid" | awk '{s+=$1} END {print s+0}')
        n=$(pgrep -g "$pid" | wc -l)
        total=$((total + kb)); running=$((running + 1))
        printf '%-15s pid %-7s up    %3s procs  %6d MiB\n' "$name" "$pid" "$n" $((kb / 1024))
    else
        printf '%-15s %-11s down\n' "$name" ""
    fi
done
printf 'total RSS: %d MiB (%d of 8 services up)\n' $((total / 1024)) "$running"
[ "$running" -eq 8 ]
