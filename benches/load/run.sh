#!/usr/bin/env bash
# Load test of the SDK API against a release build, on loopback only.
#   benches/load/run.sh [DURATION_SECONDS] [CONNECTIONS]
# Needs wrk (Debian: apt-get install wrk). Prints requests/s and latency for
# GET /api/v1/flags/, transient POST /api/v1/identities/ and POST /api/v1/identities/ storing
# traits, and the server's resident memory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${1:-15}
connections=${2:-32}
port=${BURGEE_LOAD_PORT:-18123}
token="load-test-admin-token-0123456789"
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
BURGEE_LOG=warn "$root/target/release/burgee" serve --data-dir "$data" --listen "127.0.0.1:$port" \
  --bootstrap-token "$token" > /dev/null &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health/readiness" > /dev/null && break; sleep 0.1; done
export BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "http://127.0.0.1:$port" "$token")

rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$server/status"; }
echo "server RSS after setup: $(rss)"
run() {
  echo "== $1"
  shift
  wrk --latency -t 2 -c "$connections" -d "${duration}s" "$@" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
  echo "server RSS: $(rss)"
}
run "GET /api/v1/flags/" -H "X-Environment-Key: $BURGEE_CLIENT_KEY" "http://127.0.0.1:$port/api/v1/flags/"
run "POST /api/v1/identities/ (transient, 10 traits)" -s "$root/benches/load/identify_transient.lua" "http://127.0.0.1:$port/api/v1/identities/"
run "POST /api/v1/identities/ (storing traits)" -s "$root/benches/load/identify_persist.lua" "http://127.0.0.1:$port/api/v1/identities/"
