#!/usr/bin/env bash
# The SDK load suite, Burgee and Unleash Edge side by side in one run, alternating rounds on
# loopback, wrk with 64 connections on the machine's cores: each server's health endpoint
# (the floor: what the HTTP stack alone costs), Burgee's /flags/, identify (transient and
# storing traits), the environment document (200, 304, gzip) and OFREP bulk; Edge's ruleset
# (/api/client/features) and evaluation (POST /api/frontend) endpoints. Prints requests/s,
# latency and resident memory per endpoint, then the ratios.
#   benches/load/suite.sh BINARY [DURATION_SECONDS] [ROUNDS]   (needs wrk, python3, cargo)
# Unleash Edge 20.1.0 is built once into target/unleash-edge (--no-default-features).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$1
duration=${2:-10}
rounds=${3:-2}
connections=${BURGEE_LOAD_CONNECTIONS:-64}
port=${BURGEE_LOAD_PORT:-18151}
edge_port=${EDGE_LOAD_PORT:-18152}
token="suite-admin-token-0123456789"
edge="$root/target/unleash-edge/bin/unleash-edge"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ ! -x "$edge" ]; then
  echo "== building Unleash Edge 20.1.0 into target/unleash-edge (once)"
  cargo install unleash-edge --version 20.1.0 --no-default-features --locked \
    --root "$root/target/unleash-edge" --quiet
fi

rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
results="$work/results"
# run LABEL PID wrk-arguments...: one measurement, appended to the results.
run() {
  local label=$1 pid=$2
  shift 2
  wrk --latency -t 2 -c "$connections" -d "${duration}s" "$@" > "$work/wrk.out"
  awk -v l="$label" -v rss="$(rss "$pid")" \
    '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
     END {printf "%-26s %10s req/s  p50 %8s  p99 %8s  rss %6s MiB%s\n", l, r, p50, p99, rss, bad ? "  NON-2xx " bad : ""}' \
    "$work/wrk.out" | tee -a "$results"
}

python3 "$root/benches/load/edge_bootstrap.py" "$work/edge.json"
client_token='*:development.suite-client-token'
frontend_token='*:development.suite-frontend-token'
PORT=$edge_port RUST_LOG=warn "$edge" --port "$edge_port" --interface 127.0.0.1 offline \
  --bootstrap-file "$work/edge.json" --client-tokens "$client_token" \
  --frontend-tokens "$frontend_token" > "$work/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$edge_port/internal-backstage/health" > /dev/null && break; sleep 0.1; done

BURGEE_LOG=warn "$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  --bootstrap-token "$token" > /dev/null &
burgee_pid=$!
pids+=("$burgee_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/readiness" > /dev/null && break; sleep 0.1; done
echo "idle RSS: burgee $(rss "$burgee_pid") MiB, edge $(rss "$edge_pid") MiB"
export BURGEE_CLIENT_KEY EDGE_FRONTEND_TOKEN=$frontend_token
BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "http://127.0.0.1:$port" "$token")
server_key=$(curl -sf -X POST "http://127.0.0.1:$port/admin/v1/environments/1/server-keys" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"name": "suite"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
etag=$(curl -sf -D - -o /dev/null "http://127.0.0.1:$port/api/v1/environment-document/" \
  -H "X-Environment-Key: $server_key" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
echo "idle RSS with the reference environment: burgee $(rss "$burgee_pid") MiB"

base="http://127.0.0.1:$port"
for round in $(seq "$rounds"); do
  echo "== round $round"
  run "burgee liveness" "$burgee_pid" "$base/health/liveness"
  run "edge health" "$edge_pid" "http://127.0.0.1:$edge_port/internal-backstage/health"
  run "burgee flags" "$burgee_pid" -H "X-Environment-Key: $BURGEE_CLIENT_KEY" "$base/api/v1/flags/"
  run "edge client/features" "$edge_pid" -H "Authorization: $client_token" \
    "http://127.0.0.1:$edge_port/api/client/features"
  run "burgee identify transient" "$burgee_pid" -s "$root/benches/load/identify_transient.lua" "$base/api/v1/identities/"
  run "edge frontend" "$edge_pid" -s "$root/benches/load/edge_frontend.lua" \
    "http://127.0.0.1:$edge_port/api/frontend"
  run "burgee ofrep bulk" "$burgee_pid" -s "$root/benches/load/ofrep_bulk.lua" "$base/ofrep/v1/evaluate/flags"
  run "burgee document 200" "$burgee_pid" -H "X-Environment-Key: $server_key" "$base/api/v1/environment-document/"
  run "burgee document 304" "$burgee_pid" -H "X-Environment-Key: $server_key" -H "If-None-Match: $etag" \
    "$base/api/v1/environment-document/"
  run "burgee document gzip" "$burgee_pid" -H "X-Environment-Key: $server_key" -H "Accept-Encoding: gzip" \
    "$base/api/v1/environment-document/"
  run "burgee identify persist" "$burgee_pid" -s "$root/benches/load/identify_persist.lua" "$base/api/v1/identities/"
done

echo "== ratios (sums over rounds)"
awk '
  { for (i = 1; i <= NF; i++) if ($i == "req/s") { name = $1; for (j = 2; j < i - 1; j++) name = name " " $j; sum[name] += $(i - 1) } }
  function ratio(a, b) { return sum[b] > 0 ? sprintf("%.2f", sum[a] / sum[b]) : "n/a" }
  END {
    print "burgee flags / edge client/features:        x" ratio("burgee flags", "edge client/features")
    print "burgee identify transient / edge frontend:  x" ratio("burgee identify transient", "edge frontend")
    print "burgee flags / burgee liveness:              " ratio("burgee flags", "burgee liveness")
    print "burgee document 304 / burgee liveness:       " ratio("burgee document 304", "burgee liveness")
    print "edge client/features / edge health:          " ratio("edge client/features", "edge health")
  }' "$results"
