#!/usr/bin/env bash
# The longest writer stall while an environment with many identities is deleted, measured
# while other writes run, against a release build on loopback.
#   benches/load/delete_stall.sh [IDENTITIES]     (default 500000; needs wrk)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
count=${1:-500000}
port=${BURGEE_LOAD_PORT:-18124}
token="stall-test-admin-token-0123456789"
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
BURGEE_LOG=warn "$root/target/release/burgee" serve --data-dir "$data" --listen "127.0.0.1:$port" \
  --bootstrap-token "$token" > /dev/null &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -sf "$base/health/readiness" > /dev/null && break; sleep 0.1; done
admin() { curl -sf -X "$1" "$base$2" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$3"; }
key_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["client_key"])'; }
admin POST /admin/v1/projects '{"name": "Stall"}' > /dev/null
victim=$(admin POST /admin/v1/projects/1/environments '{"name": "Doomed"}' | key_of)
other=$(admin POST /admin/v1/projects/1/environments '{"name": "Busy"}' | key_of)
admin POST /admin/v1/projects/1/features '{"name": "toggle"}' > /dev/null
echo "== filling environment 1 with $count identities (4 traits each)"
started=$(date +%s)
identities() { curl -sf "$base/metrics" | awk '$1 == "burgee_identities" {print int($2)}'; }
run=0
while [ "$(identities)" -lt "$count" ]; do
  run=$((run + 1))
  BURGEE_CLIENT_KEY=$victim BURGEE_FILL_RUN=$run \
    wrk -t 2 -c 64 -d 10s -s "$root/benches/load/fill_identities.lua" "$base/api/v1/identities/" \
    | grep -E "Requests/sec|Non-2xx" || true
done
echo "filled in $(( $(date +%s) - started )) s; database $(du -h "$data/state.redb" | cut -f1)"
echo "== deleting it while other writes run"
python3 "$root/benches/load/delete_stall.py" "$base" "$token" 1 "$other"
