#!/usr/bin/env bash
# Memory per idle connection and per real-time subscriber, and how fast one change reaches
# every subscriber (benches/load/connections.py), on a release build with the reference
# environment. Runs each measurement on a fresh server.
#   benches/load/connections.sh BINARY [IDLE_CONNECTIONS] [SUBSCRIBERS]   (defaults 5000 10000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$1
idle=${2:-5000}
subscribers=${3:-10000}
port=${BURGEE_LOAD_PORT:-18141}
token="connections-admin-token-0123456789"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT
for mode in idle sse; do
  count=$idle
  [ "$mode" = sse ] && count=$subscribers
  data=$(mktemp -d)
  BURGEE_LOG=warn "$binary" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    --bootstrap-token "$token" > /dev/null &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/readiness" > /dev/null && break; sleep 0.1; done
  key=$(python3 "$root/benches/load/setup.py" "http://127.0.0.1:$port" "$token")
  echo "idle server RSS: $(awk '/VmRSS/ {print $2}' "/proc/$server/status") KiB"
  python3 "$root/benches/load/connections.py" "http://127.0.0.1:$port" "$server" "$key" "$token" "$mode" "$count"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
  rm -rf "$data"
done
