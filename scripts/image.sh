#!/usr/bin/env bash
# Builds Burgee's runtime image from a binary built on this machine (the Dockerfile's
# `prebuilt` target), with podman: no Docker daemon and no registry pull needed.
# Usage: scripts/image.sh [BINARY] [TAG]
#   BINARY  default target/release/burgee (build it with `cargo auditable build --release`)
#   TAG     default localhost/burgee:dev
# The whole image, built from source, is `docker build -t burgee .` (or `podman build .`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-$root/target/release/burgee}
tag=${2:-localhost/burgee:dev}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/packaging/podman/containers.conf}

[ -x "$binary" ] || { echo "no binary at $binary: build it first (cargo auditable build --release --locked)" >&2; exit 1; }
command -v podman >/dev/null || { echo "podman is not installed (apt-get install podman runc)" >&2; exit 1; }

context=$root/target/image
"$root/packaging/rootfs.sh" "$binary" "$context"
version=$("$binary" --version | awk '{ print $2 }')
revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
# --format docker keeps HEALTHCHECK, which the OCI image format has no field for.
podman build --quiet --format docker --target prebuilt \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -f "$root/Dockerfile" -t "$tag" "$context" >/dev/null
# Stages and earlier builds left untagged (only Burgee's own images).
podman image prune --force --filter label=org.opencontainers.image.vendor=Burgee >/dev/null
echo "$tag"
