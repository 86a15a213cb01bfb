#!/usr/bin/env bash
# Runs a test suite once per row of a flag matrix: each row's flag states are pinned in the
# environment (one atomic change), then the suite runs; the job fails if any row fails.
#   examples/flag-matrix.sh CLIENT_KEY FEATURES -- SUITE...   (BURGEE_URL, BURGEE_TOKEN set)
#   e.g. examples/flag-matrix.sh "$KEY" banner,checkout -- pytest tests/e2e
# Add --pairwise to the matrix line for many flags.
set -euo pipefail
key=${1:?usage: flag-matrix.sh CLIENT_KEY FEATURES -- SUITE...}
features=${2:?usage: flag-matrix.sh CLIENT_KEY FEATURES -- SUITE...}
shift 2
[ "${1:-}" = "--" ] && shift
burgee=${BURGEE_BIN:-burgee}
matrix=$(mktemp)
trap 'rm -f "$matrix"' EXIT
"$burgee" flags matrix --environment "$key" --features "$features" --output json > "$matrix"
rows=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' "$matrix")
failed=0
for row in $(seq 0 $((rows - 1))); do
  "$burgee" flags set --environment "$key" --from-matrix "$matrix" --row "$row"
  echo "== row $row: $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["rows"][int(sys.argv[2])]["flags"]))' "$matrix" "$row")"
  if ! BURGEE_MATRIX_ROW=$row "$@"; then
    echo "== row $row failed"
    failed=1
  fi
done
exit "$failed"
