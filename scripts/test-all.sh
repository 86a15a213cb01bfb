#!/usr/bin/env bash
# Runs every test of the project: unit, integration, conformance and CLI tests.
# Usage: scripts/test-all.sh   (from anywhere; installs nothing system-wide)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Flagsmith's engine conformance data lives beside the checkout unless told otherwise.
export BURGEE_ENGINE_TEST_DATA=${BURGEE_ENGINE_TEST_DATA:-$root/../shared/flagsmith-engine-test-data}

cargo test --workspace --all-targets --locked
