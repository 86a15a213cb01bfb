#!/usr/bin/env bash
# Checks everything Burgee ships besides the binary: the Dockerfile (hadolint), the Helm chart
# (helm lint, renders in several configurations validated against Kubernetes' schemas, what
# the chart promises, values the schema must refuse), the kustomize base, the YAML, and the
# systemd unit (systemd-analyze verify). Installs its Python tools under target/ci/venv.
# Usage: scripts/check-packaging.sh   (scripts/test-all.sh runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$root/target/ci/venv

if ! cmp -s packaging/requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r packaging/requirements.txt
  cp packaging/requirements.txt "$venv/requirements.txt"
fi

echo "== hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile

echo "== yamllint"
"$venv/bin/yamllint" --strict -c packaging/yamllint.yaml \
  packaging/helm/burgee/Chart.yaml packaging/helm/burgee/values.yaml \
  packaging/k8s/kustomization.yaml packaging/k8s/namespace.yaml

echo "== the Helm chart and the kustomize base"
"$venv/bin/python" packaging/helm/check.py check

echo "== systemd-analyze verify packaging/systemd/burgee.service"
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze is missing (Debian package systemd)" >&2
  exit 1
fi
# verify needs the ExecStart binary to exist: check a copy that points at this build's.
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
binary=${BURGEE_RELEASE_BINARY:-$root/target/release/burgee}
sed "s|/usr/local/bin/burgee|$binary|g" packaging/systemd/burgee.service > "$unit_dir/burgee.service"
out=$(systemd-analyze verify "$unit_dir/burgee.service" 2>&1 || true)
if [ -n "$out" ]; then
  echo "$out" >&2
  exit 1
fi
echo "packaging checks passed"
