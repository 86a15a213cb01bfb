#!/usr/bin/env bash
# Promotions, bulk edits and flags-as-code round trips on a project of FEATURES features,
# measured against a release build on loopback (see environments.py).
#   benches/load/environments.sh BINARY [FEATURES]     (default 500; needs python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:?usage: environments.sh BINARY [FEATURES]}
exec python3 "$root/benches/load/environments.py" "$binary" "${2:-500}"
