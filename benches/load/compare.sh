#!/usr/bin/env bash
# Two builds side by side in one run, alternating, on loopback: requests/s and latency of the
# SDK endpoints and of admin toggles, each build on a fresh data directory with the reference
# environment, and the server's CPU time per request (`/proc/PID/stat`: on a machine where wrk
# and the server share the cores, CPU per request moves less between runs than requests/s).
#   benches/load/compare.sh OLD_BINARY NEW_BINARY [DURATION_SECONDS] [ROUNDS]   (needs wrk)
# BURGEE_LOAD_ENDPOINTS picks endpoints (default: "flags transient persist toggle").
# BURGEE_LOAD_OLD_ARGS / BURGEE_LOAD_NEW_ARGS add `serve` arguments to one side; `@DB@` in
# them becomes a fresh PostgreSQL database per measurement (benches/load/postgres.sh uses it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=$1
new=$2
duration=${3:-10}
rounds=${4:-2}
port=${BURGEE_LOAD_PORT:-18125}
token="compare-admin-token-0123456789"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT

# User plus system CPU time of a process, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

database=
measure() {
  local label=$1 binary=$2 data extra
  data=$(mktemp -d)
  extra=${3:-}
  if [[ $extra == *@DB@* ]]; then
    database="burgee_load_$$_$RANDOM"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $database"
    extra=${extra//@DB@/$database}
  fi
  # shellcheck disable=SC2086 # the extra arguments are words
  BURGEE_LOG=warn "$binary" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    --bootstrap-token "$token" $extra > /dev/null &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/readiness" > /dev/null && break; sleep 0.1; done
  export BURGEE_CLIENT_KEY
  BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "http://127.0.0.1:$port" "$token")
  export BURGEE_TOKEN=$token
  for endpoint in ${BURGEE_LOAD_ENDPOINTS:-flags transient persist toggle}; do
    local args=("http://127.0.0.1:$port/api/v1/identities/")
    case $endpoint in
      flags) args=(-H "X-Environment-Key: $BURGEE_CLIENT_KEY" "http://127.0.0.1:$port/api/v1/flags/") ;;
      transient) args=(-s "$root/benches/load/identify_transient.lua" "${args[@]}") ;;
      # The same 1 000 users again and again.
      known) args=(-s "$root/benches/load/identify_transient.lua" "${args[@]}") ;;
      persist) args=(-s "$root/benches/load/identify_persist.lua" "${args[@]}") ;;
      toggle) args=(-s "$root/benches/load/toggle.lua" "http://127.0.0.1:$port") ;;
    esac
    local before after
    before=$(cpu_ticks "$server")
    local users=0
    [ "$endpoint" = known ] && users=1000
    BURGEE_LOAD_USERS=$users wrk --latency -t 2 -c 32 -d "${duration}s" "${args[@]}" > "$data/wrk.out"
    after=$(cpu_ticks "$server")
    awk -v l="$label" -v e="$endpoint" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
      '/requests in/ {n=$1} /Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       END {printf "%-4s %-10s %10s req/s  p50 %8s  p99 %8s  cpu %6.1f us/req\n", l, e, r, p50, p99, ticks / hz * 1e6 / n}' \
      "$data/wrk.out"
  done
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
  rm -rf "$data"
  if [ -n "$database" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE $database WITH (FORCE)"
    database=
  fi
}

for round in $(seq "$rounds"); do
  echo "== round $round"
  measure old "$old" "${BURGEE_LOAD_OLD_ARGS:-}"
  measure new "$new" "${BURGEE_LOAD_NEW_ARGS:-}"
done
