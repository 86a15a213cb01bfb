#!/usr/bin/env bash
# The cluster tests again and again, for stability (not in CI): RUNS rounds (default 10) of
# every cluster test with 10 leader kills under load, then the snapshot rejoin once with
# 200 000 identities (from a release build). Prints a line per round and fails if any round failed.
#   scripts/cluster-soak.sh [RUNS]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
tests=(--test cluster --test cluster_faults --test cluster_failover --test cluster_membership)
cargo build --locked --tests "${tests[@]}" -p burgee || exit 1
cargo build --locked --tests -p burgee-raft || exit 1
failed=0
for round in $(seq "$runs"); do
  started=$(date +%s)
  if BURGEE_LEADER_KILLS=10 cargo test --locked -q "${tests[@]}" > "/tmp/cluster-soak-$round.log" 2>&1 \
    && cargo test --locked -q -p burgee-raft >> "/tmp/cluster-soak-$round.log" 2>&1; then
    echo "round $round: passed in $(( $(date +%s) - started )) s"
  else
    echo "round $round: FAILED (see /tmp/cluster-soak-$round.log)"
    failed=$((failed + 1))
  fi
done
started=$(date +%s)
# From an optimised build: the debug one stores identities too slowly for this size.
if BURGEE_REJOIN_IDENTITIES=200000 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo test --release --locked -q --test cluster_faults a_wiped_node_rejoins > /tmp/cluster-soak-rejoin.log 2>&1; then
  echo "rejoin through a snapshot of 200000 identities: passed in $(( $(date +%s) - started )) s"
else
  echo "rejoin through a snapshot of 200000 identities: FAILED (see /tmp/cluster-soak-rejoin.log)"
  failed=$((failed + 1))
fi
echo "$failed failed of $((runs + 1))"
[ "$failed" -eq 0 ]
