#!/usr/bin/env bash
# The load suite in PostgreSQL mode next to the embedded store, in one run, alternating (the
# same binary; "old" is embedded, "new" is PostgreSQL on a fresh database of the machine's
# server at 127.0.0.1:5432), then how fast a change made through one PostgreSQL replica is
# served by another, with LISTEN/NOTIFY and with Redis (127.0.0.1:6379).
#   benches/load/postgres.sh BINARY [DURATION_SECONDS] [ROUNDS]   (needs wrk, psql, python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$1
duration=${2:-8}
rounds=${3:-2}
BURGEE_LOAD_ENDPOINTS=${BURGEE_LOAD_ENDPOINTS:-flags known transient persist toggle} \
BURGEE_LOAD_NEW_ARGS="--store postgres --postgres-url postgres://postgres@127.0.0.1:5432/@DB@" \
  "$root/benches/load/compare.sh" "$binary" "$binary" "$duration" "$rounds" |
  sed -e 's/^old /embd /' -e 's/^new /pg   /'
token="propagation-admin-token-0123456789"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for notifications in postgres redis; do
  database="burgee_propagation_$$_$notifications"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $database"
  extra=(--store postgres --postgres-url "postgres://postgres@127.0.0.1:5432/$database")
  [ "$notifications" = redis ] && extra+=(--cache redis --redis-url redis://127.0.0.1:6379)
  pids=()
  for port in 18131 18132; do
    BURGEE_LOG=warn "$binary" serve --data-dir "$(mktemp -d)" --listen "127.0.0.1:$port" \
      --bootstrap-token "$token" "${extra[@]}" > /dev/null &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/readiness" > /dev/null && break; sleep 0.1; done
  done
  key=$(python3 "$root/benches/load/setup.py" http://127.0.0.1:18131 "$token")
  echo "== a change through one replica served by the other ($notifications notifications)"
  python3 "$root/benches/load/cluster_probe.py" visibility http://127.0.0.1:18131 \
    http://127.0.0.1:18132 "$token" "$key" 200
  kill "${pids[@]}"
  wait "${pids[@]}" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE $database WITH (FORCE)"
done
