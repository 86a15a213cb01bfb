#!/usr/bin/env bash
# Lays out the container image's files: OUT_DIR/rootfs holds the burgee binary and the shared
# libraries it loads (found with ldd, kept at their absolute paths so the dynamic loader finds
# them), all owned by root; OUT_DIR/volume holds the empty data directory, which the
# Dockerfile copies with the image user as its owner. Both the Dockerfile's build stage and the
# prebuilt-binary image (scripts/image.sh) use it, so the two images hold the same files.
# Usage: packaging/rootfs.sh BINARY OUT_DIR
set -euo pipefail
binary=${1:?usage: rootfs.sh BINARY OUT_DIR}
out=${2:?usage: rootfs.sh BINARY OUT_DIR}

rm -rf "$out"
mkdir -p "$out/volume/data"
out=$out/rootfs
mkdir -p "$out"
install -m 0555 "$binary" "$out/burgee"

# Every library ldd resolves (`name => /path (addr)`) plus the loader (`/path (addr)`), mode
# 0555: the kernel executes the loader itself.
ldd "$binary" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | sort -u |
  while read -r library; do
    real=$(readlink -f "$library")
    mkdir -p "$out$(dirname "$library")"
    install -m 0555 "$real" "$out$library"
  done

# Enough of /etc for a process without a shell: its numeric user has a name, and host
# lookups read /etc/hosts before DNS (glibc's built-in files and dns sources).
mkdir -p "$out/etc"
printf 'root:x:0:0:root:/:/sbin/nologin\nburgee:x:65532:65532:burgee:/data:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\nburgee:x:65532:\n' > "$out/etc/group"
printf 'hosts: files dns\n' > "$out/etc/nsswitch.conf"
