#!/usr/bin/env bash
# A cluster on this machine, measured: acknowledged writes/s and latency (feature-state toggles
# and identify-storing-traits, 32 connections) on one node and on three (through the leader
# and through a follower), the same with mutual TLS between the three nodes, the time from a
# write on node A until node C's SDK API serves it, and the time from a leader's kill -9
# until a write is acknowledged again.
#   benches/load/cluster.sh BINARY [DURATION_SECONDS] [FAILOVERS]   (needs wrk, python3, openssl)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$1
duration=${2:-8}
failovers=${3:-5}
token="cluster-bench-admin-token-0123456789"
secret="cluster-bench-secret-0123456789abcdef"
base=${BURGEE_BENCH_PORT:-18400}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

api() { echo "http://127.0.0.1:$((base + $1))"; }
scheme=http
tls_args=()
peer() { echo "$scheme://127.0.0.1:$((base + 10 + $1))"; }

# Mutual TLS between nodes: one private CA, a certificate for 127.0.0.1 (server and client).
mutual_tls() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/peer.key" -out "$work/peer.csr" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" > "$work/peer.ext"
  openssl x509 -req -in "$work/peer.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/peer.ext" -out "$work/peer.pem" 2>/dev/null
  scheme=https
  tls_args=(--cluster-tls-cert "$work/peer.pem" --cluster-tls-key "$work/peer.key"
    --tls-client-ca "$work/ca.pem")
}

start() { # start ID SIZE
  local id=$1 size=$2 members="" i
  for i in $(seq "$size"); do members+="${members:+,}$i=$(peer "$i")"; done
  BURGEE_LOG=warn "$binary" serve --data-dir "$work/node$id" --listen "127.0.0.1:$((base + id))" \
    --bootstrap-token "$token" --cluster-listen "127.0.0.1:$((base + 10 + id))" \
    --advertise-cluster-url "$(peer "$id")" --cluster-secret "$secret" --node-id "$id" \
    --initial-cluster "$members" "${tls_args[@]}" > /dev/null 2>>"$work/log" &
  pids[$id]=$!
}

leader() {
  local i
  for _ in $(seq 200); do
    for i in 1 2 3; do
      l=$(curl -sf "$(api "$i")/health/cluster" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"] or "")' 2>/dev/null || true)
      [ -n "$l" ] && { echo "$l"; return; }
    done
    sleep 0.05
  done
  echo "no leader" >&2; exit 1
}

wait_ready() {
  for _ in $(seq 200); do curl -sf "$(api "$1")/admin/v1/projects" -H "Authorization: Bearer $token" > /dev/null && return; sleep 0.1; done
  echo "node $1 never served" >&2; exit 1
}

load() { # load LABEL URL
  local label=$1 url=$2 endpoint args
  for endpoint in toggle persist; do
    case $endpoint in
      toggle) args=(-s "$root/benches/load/toggle.lua" "$url") ;;
      persist) args=(-s "$root/benches/load/identify_persist.lua" "$url/api/v1/identities/") ;;
    esac
    wrk --latency -t 2 -c 32 -d "${duration}s" "${args[@]}" \
      | awk -v l="$label" -v e="$endpoint" '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%-22s %-8s %10s req/s  p50 %8s  p99 %8s\n", l, e, r, p50, p99}'
  done
}

export BURGEE_TOKEN=$token
echo "== one node"
start 1 1
wait_ready 1
export BURGEE_CLIENT_KEY
BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "$(api 1)" "$token")
load "1 node" "$(api 1)"
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
rm -rf "$work/node1"

echo "== three nodes"
for i in 1 2 3; do start "$i" 3; done
l=$(leader)
wait_ready "$l"
BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "$(api "$l")" "$token")
follower=$(( l % 3 + 1 ))
other=$(( follower % 3 + 1 ))
load "3 nodes, at the leader" "$(api "$l")"
load "3 nodes, at a follower" "$(api "$follower")"
python3 "$root/benches/load/cluster_probe.py" visibility "$(api "$follower")" "$(api "$other")" "$token" "$BURGEE_CLIENT_KEY" 500
for i in 1 2 3; do kill "${pids[$i]}"; wait "${pids[$i]}" 2>/dev/null || true; rm -rf "$work/node$i"; done

echo "== three nodes, mutual TLS between them"
mutual_tls
for i in 1 2 3; do start "$i" 3; done
l=$(leader)
wait_ready "$l"
BURGEE_CLIENT_KEY=$(python3 "$root/benches/load/setup.py" "$(api "$l")" "$token")
follower=$(( l % 3 + 1 ))
load "3 nodes mTLS, leader" "$(api "$l")"
load "3 nodes mTLS, follower" "$(api "$follower")"

echo "== failover (kill -9 of the leader until a write is acknowledged again)"
for round in $(seq "$failovers"); do
  l=$(leader)
  urls=()
  for i in 1 2 3; do [ "$i" != "$l" ] && urls+=("$(api "$i")"); done
  kill -9 "${pids[$l]}"
  wait "${pids[$l]}" 2>/dev/null || true
  seconds=$(python3 "$root/benches/load/cluster_probe.py" first_write "$token" "${urls[@]}")
  echo "round $round: leader $l killed; a write was acknowledged after $seconds s"
  start "$l" 3
  sleep 2
done
