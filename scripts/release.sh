#!/usr/bin/env bash
# A release build in target/dist/:
#   burgee            the binary, built with cargo auditable: its Rust dependency list is
#                     embedded (section .dep-v0), so image scanners (Trivy, Grype, ECR) see it
#   burgee.cdx.json   the CycloneDX 1.5 SBOM of the binary (runtime dependencies)
#   SHA256SUMS        checksums of both
# Then `scripts/image.sh target/dist/burgee localhost/burgee:VERSION` builds the image.
# Installs cargo-auditable and cargo-cyclonedx from crates.io when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$root/target/dist

need() { # crate version
  if ! "$1" --version 2>/dev/null | grep -q "$2"; then
    cargo install "$1" --locked --version "$2" --quiet
  fi
}
need cargo-auditable 0.7.7
need cargo-cyclonedx 0.5.9

cargo auditable build --release --locked --quiet
rm -rf "$dist"
mkdir -p "$dist"
cp target/release/burgee "$dist/burgee"

# The SBOM lands beside Cargo.toml (burgee_bin.cdx.json); SOURCE_DATE_EPOCH (the commit's time) keeps it reproducible.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
cargo cyclonedx --format json --spec-version 1.5 --describe binaries --no-build-deps -qq
mv burgee_bin.cdx.json "$dist/burgee.cdx.json"
(cd "$dist" && sha256sum burgee burgee.cdx.json > SHA256SUMS)
echo "$dist"
