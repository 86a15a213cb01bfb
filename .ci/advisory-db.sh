#!/usr/bin/env bash
# Makes a git checkout of the offline RustSec advisory snapshot where deny.toml points
# (cargo-deny reads the database with git). Source: $BURGEE_ADVISORY_DB or ../shared/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${BURGEE_ADVISORY_DB:-$root/../shared/rustsec-advisory-db}
db=$root/target/advisory-db/advisory-db-3157b0e258782691
if [ ! -d "$src" ]; then
  echo "advisory snapshot not found at $src" >&2
  exit 1
fi
rm -rf "$db"
mkdir -p "$db"
cp -r "$src"/. "$db"
chmod -R u+w "$db"
git -C "$db" init -q
git -C "$db" add -A
git -C "$db" -c user.name=ci -c user.email=ci@localhost commit -qm snapshot
