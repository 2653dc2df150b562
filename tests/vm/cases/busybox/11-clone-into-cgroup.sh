#!/bin/sh
# CLONE_INTO_CGROUP on a pure cgroup v2 host: the container's init is born in its cgroup
# (clone3), so its limits apply from its first instruction and nothing writes cgroup.procs.
#
# Evidence the kernel gives without strace: pids.max is checked when a process is forked
# into a cgroup, never when one is moved there. With pids.max 0 a container born in its
# cgroup cannot exist (clone3 fails with EAGAIN), while the old path (clone, then a
# cgroup.procs write; NUCLEUS_CLONE_INTO_CGROUP=0) puts it there all the same. The case
# also times 20 `nucleus run --pids 100 -- true` both ways (printed on the console).
. /vm/lib.sh
root=$(nucleus_root)

# --- pids.max 0: born in the cgroup means refused at birth ---
make_bundle "$TMPDIR/p0" true
bundle_resources "$TMPDIR/p0" '"unified": {"pids.max": "0"}'
timeout 60 nucleus --root "$root" create -b "$TMPDIR/p0" born-p0 >"$TMPDIR/p0.log" 2>&1
rc=$?
out=$(cat "$TMPDIR/p0.log")
echo "clone3: rc=$rc $out"
[ "$rc" != 0 ] && echo "$out" | grep -q "pids.max" && ok "born in a pids.max=0 cgroup: refused" ||
  fail "clone3 into cgroup" "create with pids.max 0 did not fail at birth (rc $rc): $out"
timeout 60 nucleus --root "$root" delete -f born-p0 >/dev/null 2>&1
[ -d /sys/fs/cgroup/nucleus-born-p0 ] && fail "cleanup" "the cgroup of the refused create is left"

# The old path: the process is cloned outside and moved in, which pids.max does not stop.
(
  timeout 20 env NUCLEUS_CLONE_INTO_CGROUP=0 nucleus --root "$root" create -b "$TMPDIR/p0" born-old
  echo "create rc=$?"
) >"$TMPDIR/old.out" 2>&1 &
# (cgroup files have no size: test -s cannot tell; read them.)
if wait_for 20 grep -q . /sys/fs/cgroup/nucleus-born-old/cgroup.procs; then
  ok "old path (cgroup.procs write): a process is in the pids.max=0 cgroup"
else
  fail "fallback" "no process ever entered the pids.max=0 cgroup on the old path"
fi
wait
cat "$TMPDIR/old.out"
echo "old path: pids.max $(cat /sys/fs/cgroup/nucleus-born-old/pids.max 2>&1), pids.current $(cat /sys/fs/cgroup/nucleus-born-old/pids.current 2>&1)"
timeout 60 nucleus --root "$root" delete -f born-old >/dev/null 2>&1
[ -d /sys/fs/cgroup/nucleus-born-old ] && fail "cleanup" "the old path's cgroup is left"

# --- the init is in the container's cgroup from the start (before its program runs) ---
make_bundle "$TMPDIR/c" cat /proc/self/cgroup
bundle_linux "$TMPDIR/c" '"cgroupsPath": "/nucleus-vm-born"'
bundle_resources "$TMPDIR/c" '"pids": {"limit": 10}'
# A created container keeps its stdio: to a file, or $(...) would wait for it.
nuc create -b "$TMPDIR/c" born-c >"$TMPDIR/c.log" 2>&1 && ok "create" || fail "create" "$(cat "$TMPDIR/c.log")"
pid=$(nuc state born-c | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1)
expect_eq "init's cgroup while it waits at the exec FIFO" "/nucleus-vm-born" "$(cgroup_of "$pid")"
expect_eq "pids.current (only the init)" 1 "$(cat /sys/fs/cgroup/nucleus-vm-born/pids.current)"
timeout 60 nucleus --root "$root" delete -f born-c >/dev/null 2>&1
out=$(nuc run -- cat /proc/self/cgroup 2>&1)
expect_eq "run: the program's first view of its cgroup (namespace root)" "0::/" "$out"

# --- start-up cost: 20 runs with a cgroup, both ways (one round each: the lane's budget) ---
# loop 1|0: NUCLEUS_CLONE_INTO_CGROUP for the 20 runs; prints the real time in seconds.
loop() {
  env NUCLEUS_CLONE_INTO_CGROUP="$1" busybox time -p sh -c "i=0; while [ \$i -lt 20 ]; do nucleus --root '$root' run --pids 100 -- true || exit 1; i=\$((i + 1)); done" 2>&1 |
    sed -n 's/^real //p'
}
check "warm-up" nucleus --root "$root" run --pids 100 -- true
a1=$(loop 1)
b1=$(loop 0)
msg="20x run --pids 100 -- true: clone3 into cgroup ${a1}s; clone + cgroup.procs ${b1}s"
echo "$msg"
echo "vm: 11-clone-into-cgroup: $msg" >/dev/console 2>/dev/null
[ -n "$a1" ] && [ -n "$b1" ] && ok "timed" || fail "timing" "a loop failed: '$a1' '$b1'"
finish
