#!/usr/bin/env bash
# Backups of a large store, measured: an online `burgee backup` (plain and encrypted) while
# SDK reads and identify writes run, `backup verify` and `restore`; their time, file size and
# the server's resident memory before and during the backup (a streamed backup must not grow
# it with the store). Against a release build on loopback.
#   benches/load/backup.sh BINARY [IDENTITIES]     (default 200000; needs wrk, python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:?usage: backup.sh BINARY [IDENTITIES]}
count=${2:-200000}
port=${BURGEE_LOAD_PORT:-18125}
token="backup-bench-admin-token-0123456789"
work=$(mktemp -d)
trap 'kill "$server" "$load" 2>/dev/null || true; rm -rf "$work"' EXIT
BURGEE_LOG=warn "$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  --bootstrap-token "$token" > /dev/null &
server=$!
load=
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/health/readiness" > /dev/null && break; sleep 0.1; done
admin() { curl -sf -X "$1" "$base$2" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$3"; }
admin POST /admin/v1/projects '{"name": "Backup"}' > /dev/null
key=$(admin POST /admin/v1/projects/1/environments '{"name": "Big"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_key"])')
for i in $(seq 50); do admin POST /admin/v1/projects/1/features "{\"name\": \"f$i\"}" > /dev/null; done
identities() { curl -sf "$base/metrics" | awk '$1 == "burgee_identities" {print int($2)}'; }
run=0
while [ "$(identities)" -lt "$count" ]; do
  run=$((run + 1))
  BURGEE_CLIENT_KEY=$key BURGEE_FILL_RUN=$run wrk -t 2 -c 64 -d 10s \
    -s "$root/benches/load/fill_identities.lua" "$base/api/v1/identities/" > /dev/null
done
rss() { awk '/VmRSS/ {print int($2 / 1024) " MiB"}' "/proc/$server/status"; }
echo "store: $(identities) identities, 4 traits each; state.redb $(du -h "$work/data/state.redb" | cut -f1); server RSS $(rss)"

"$binary" backup keygen --out "$work/key" > /dev/null
peak() { # samples the server's RSS while $1 runs; prints the peak
  local most=0 now
  while kill -0 "$1" 2>/dev/null; do
    now=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server/status")
    [ "$now" -gt "$most" ] && most=$now
    sleep 0.05
  done
  echo "$most MiB"
}
timed() { # label, command...
  local label=$1; shift
  local started ended
  started=$(date +%s.%N)
  "$@" > /dev/null &
  local job=$!
  local top
  top=$(peak "$job")
  wait "$job"
  ended=$(date +%s.%N)
  printf '%-34s %6.2f s   server RSS peak %s\n' "$label" "$(echo "$ended - $started" | bc)" "$top"
}
# Reads and writes go on during the backups.
BURGEE_CLIENT_KEY=$key BURGEE_FILL_RUN=during wrk -t 1 -c 8 -d 600s \
  -s "$root/benches/load/fill_identities.lua" "$base/api/v1/identities/" > /dev/null &
load=$!
export BURGEE_URL=$base BURGEE_TOKEN=$token
timed "backup (online, under writes)" "$binary" backup --out "$work/plain.backup"
timed "backup --key-file (encrypted)" "$binary" backup --out "$work/sealed.backup" --key-file "$work/key"
kill "$load" 2>/dev/null || true
timed "backup verify" "$binary" backup verify "$work/plain.backup"
timed "backup verify --key-file" "$binary" backup verify "$work/sealed.backup" --key-file "$work/key"
timed "restore" "$binary" restore "$work/plain.backup" --data-dir "$work/restored"
echo "files: plain $(du -h "$work/plain.backup" | cut -f1), encrypted $(du -h "$work/sealed.backup" | cut -f1), restored state.redb $(du -h "$work/restored/state.redb" | cut -f1)"
