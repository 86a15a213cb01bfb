#!/usr/bin/env bash
# Runs every test of the project: unit, conformance, property, server and CLI tests, the
# compatibility tests with the official Flagsmith SDKs (Python, Node and Rust) and the
# differential test against Flagsmith's Python reference engine, which this script installs
# under target/sdk (Python venvs, an npm folder, a separate Cargo build).
# Usage: scripts/test-all.sh   (from anywhere; installs nothing system-wide)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sdk="$root/target/sdk"
mkdir -p "$sdk"

# Every test must run here: one whose data, SDK or tool is missing fails instead of skipping.
export BURGEE_REQUIRE_ALL_TESTS=1

# Flagsmith's engine conformance data lives beside the checkout unless told otherwise.
export BURGEE_ENGINE_TEST_DATA=${BURGEE_ENGINE_TEST_DATA:-$root/../shared/flagsmith-engine-test-data}

echo "== installing the Flagsmith SDKs and the OpenFeature OFREP provider used by the compatibility tests"
if ! "$sdk/venv/bin/python" -c "import flagsmith, openfeature.contrib.provider.ofrep" 2>/dev/null; then
  python3 -m venv "$sdk/venv"
  "$sdk/venv/bin/pip" install --quiet --disable-pip-version-check -r sdk-tests/python/requirements.txt
fi
export BURGEE_SDK_PYTHON="$sdk/venv/bin/python"

# Flagsmith's reference engine for the differential test, in a venv of its own: the SDK
# above may pull in another engine version.
echo "== installing Flagsmith's reference engine used by the differential test"
engine_version=$(sed -n 's/^flagsmith-flag-engine==//p' sdk-tests/engine/requirements.txt)
if ! "$sdk/engine-venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('flagsmith-flag-engine') != '$engine_version')" 2>/dev/null; then
  python3 -m venv "$sdk/engine-venv"
  "$sdk/engine-venv/bin/pip" install --quiet --disable-pip-version-check -r sdk-tests/engine/requirements.txt
fi
export BURGEE_ENGINE_PYTHON="$sdk/engine-venv/bin/python"

mkdir -p "$sdk/node"
cp sdk-tests/node/package.json "$sdk/node/package.json"
if [ ! -d "$sdk/node/node_modules/flagsmith-nodejs" ]; then
  (cd "$sdk/node" && npm install --no-audit --no-fund --loglevel=error)
fi
export BURGEE_SDK_NODE="$sdk/node"

# The Rust SDK builds OpenSSL bindings (native-tls): it needs OpenSSL's headers. The
# durability test traces the server's system calls with strace.
missing=()
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
command -v strace >/dev/null 2>&1 || missing+=(strace)
# The container image test builds and runs the image with podman (runc: crun fails on
# hybrid cgroups); the release checks read the binary with objcopy; the systemd unit is
# checked with systemd-analyze.
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v objcopy >/dev/null 2>&1 || missing+=(binutils)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" > /dev/null
  else
    echo "the tests need these Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
cargo build --release --quiet --locked --manifest-path sdk-tests/rust/Cargo.toml --target-dir "$sdk/rust-target"
export BURGEE_SDK_RUST="$sdk/rust-target/release/burgee-sdk-compat-rust"

# The PostgreSQL and Redis adapters' tests talk to real servers (a fresh database per run).
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
ensure_postgres
ensure_redis

echo "== the release build: the binary with its dependency list embedded, its SBOM, checksums"
scripts/release.sh
export BURGEE_DIST="$root/target/dist"
export BURGEE_RELEASE_BINARY="$BURGEE_DIST/burgee"

echo "== packaging: Dockerfile, Helm chart, kustomize base, systemd unit"
scripts/check-packaging.sh
# The chart test renders the chart with the same tools.
export BURGEE_CHART_PYTHON="$root/target/ci/venv/bin/python"

echo "== cargo test"
# fault-injection is a test-only feature: it lets the fault tests break the disk on demand.
cargo test --workspace --all-targets --locked --features fault-injection

echo "== schemathesis: the server against its own OpenAPI document"
scripts/schemathesis.sh 90
