#!/bin/sh
# Smoke: nucleus runs on a pure cgroup v2 host (Debian 12's kernel 6.1): `run -- true`, exit
# codes pass through, an OCI bundle runs, and `nucleus check` sees cgroup v2 with controllers.
. /vm/lib.sh

# The host really is v2-only: one cgroup2 mount, no v1 hierarchy.
expect_eq "cgroup2 mounts" 1 "$(awk '$3 == "cgroup2"' /proc/mounts | wc -l)"
expect_eq "cgroup v1 mounts" 0 "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"

check "run -- true" nuc run -- true
nuc run -- sh -c 'exit 7' >/dev/null 2>&1
expect_eq "exit code passes through" 7 "$?"
nuc run -- false >/dev/null 2>&1
expect_eq "false exits 1" 1 "$?"
out=$(nuc run -- echo hello 2>&1)
expect_eq "stdout" hello "$out"
# The sandbox has a cgroup of its own (cgroup namespace: it sees itself at the root).
out=$(nuc run -- cat /proc/self/cgroup 2>&1)
expect_eq "/proc/self/cgroup inside" "0::/" "$out"

make_bundle "$TMPDIR/b" sh -c 'exit 3'
nuc run -b "$TMPDIR/b" smoke1 >/dev/null 2>&1
expect_eq "OCI run exit code" 3 "$?"
nuc delete -f smoke1 >/dev/null 2>&1
[ -z "$(nuc list -q 2>/dev/null)" ] && ok "nothing left in list" || fail "list" "$(nuc list 2>&1)"

out=$(nucleus check 2>&1)
rc=$?
echo "$out"
expect_eq "nucleus check exit" 0 "$rc"
echo "$out" | grep -i cgroup | grep -qi 'v2' && ok "check reports cgroup v2" ||
  fail "check cgroup" "no cgroup v2 line in: $(echo "$out" | grep -i cgroup)"
echo "$out" | grep -i cgroup | grep -qiE 'hybrid|v1' &&
  fail "check cgroup" "v1/hybrid reported on a v2-only host: $(echo "$out" | grep -i cgroup)"
finish
