#!/usr/bin/env bash
# Debian's arm64 Node.js and the libraries it links, unpacked into a directory (not installed: the host's
# node stays), for test/portable.test.ts to run the linux-arm64 addon under qemu-user:
#   qemu-aarch64 -L DIR DIR/usr/bin/node ...
# Needs root (apt), the Debian registry, and adds the arm64 architecture to dpkg's list.
set -euo pipefail
dir=${1:?usage: scripts/arm64-node.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
apt-get update -qq
command -v qemu-aarch64 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user
# nodejs, what it and libnode depend on (two levels cover Debian 12's tree), and libstdc++'s libgcc
names=$( (echo nodejs libnode108 libgcc-s1; apt-cache depends --no-recommends --no-suggests nodejs:arm64 "$(apt-cache depends nodejs:arm64 | sed -n 's/^ *Depends: \(libnode[^ :]*\).*/\1/p' | head -1):arm64") \
  | sed -n 's/^ *Depends: //p; /^[a-z]/p' | tr -d '<>' | sed 's/:arm64$//; s/:any$//' | grep -v '^nodejs$' | sort -u; echo nodejs)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
chmod 777 "$work"  # apt's _apt user downloads into it
for n in $names; do
  case $n in debconf*|dpkg|install-info|tar|perl*|python3*|ca-certificates) continue ;; esac
  apt-get download -qq "$n:arm64" 2>/dev/null || apt-get download -qq "$n" 2>/dev/null || echo "arm64-node: no package $n (skipped)"
done
for f in *.deb; do dpkg -x "$f" "$dir"; done
qemu-aarch64 -L "$dir" "$dir/usr/bin/node" -e 'console.log(`arm64 node ${process.version} (${process.arch}) in '"$dir"'`)'
