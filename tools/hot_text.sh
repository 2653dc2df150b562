#!/usr/bin/env bash
# Regenerates link/startup-path.ld: the functions nucleus executes while it starts
# containers, which build.rs links first, together (see build.rs: startup_path_first).
#
#   bash tools/hot_text.sh        # as root; takes a few minutes (every instruction is
#                                 # single-stepped under ptrace)
#
# It builds the release binary, single-steps these start-ups with tools/steptrace.c
# (OCI `run -b`, the row bench/run.sh measures peak RSS on, and the one-shot
# `nucleus run -- true`), maps every
# executed address to its function and writes one ld section listing them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tools/hot_text.sh: needs root (it starts containers)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/nucleus-hot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -o "$WORK/steptrace" tools/steptrace.c
cargo build --release --quiet
N=$(pwd)/target/x86_64-unknown-linux-gnu/release/nucleus
cp "$N" "$WORK/nucleus"
N=$WORK/nucleus
B=$WORK/bundle
mkdir -p "$B/rootfs/bin"
cp "$(command -v busybox)" "$B/rootfs/bin/busybox"
ln -s busybox "$B/rootfs/bin/true"
(cd "$B" && "$N" spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' "$B/config.json"
R="--root $WORK/state"
# Same private mount namespace as bench/run.sh (no cgroup2 mount on this hybrid host).
step() {
  local out=$1; shift
  "$WORK/steptrace" "$N" unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; $*" >"$out"
}
step "$WORK/1.off" "$N $R run -b $B t1"
step "$WORK/2.off" "$N run -- true"
python3 tools/hot_text.py "$N" "$WORK/1.off" "$WORK/2.off" link/startup-path.ld
