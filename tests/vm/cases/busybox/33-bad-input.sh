#!/bin/sh
# Bad input on a pure cgroup v2 host: a limit the host cannot apply is one clear error line
# naming the controller (plus a hint with the fix), a non-zero exit, and nothing left in the
# cgroup tree or the state directory.
# 1. hugetlb taken away from cgroup v2 (bound to a v1 hierarchy) and a hugepageLimits entry.
# 2. a huge page size this host does not have.
# 3. a cgroupsPath below a cgroup that holds a process (v2's no-internal-processes rule).
# 4. limits asked by a user the cgroup tree is not delegated to.
. /vm/lib.sh

cgroups() {
  find /sys/fs/cgroup -mindepth 1 -type d | sort
}

# refused NAME WORD HINT-WORD CMD...: CMD fails with exactly one `nucleus:` line holding
# WORD, a hint holding HINT-WORD, and leaves the cgroup tree and the state as they were.
refused() {
  _n=$1 _w=$2 _h=$3
  shift 3
  _before=$(cgroups)
  "$@" >"$TMPDIR/out" 2>"$TMPDIR/err"
  _rc=$?
  echo "$_n: exit $_rc"
  sed 's/^/  /' "$TMPDIR/err"
  [ "$_rc" != 0 ] && ok "$_n: exits non-zero" || fail "$_n" "exit 0"
  expect_eq "$_n: one nucleus: line" 1 "$(grep -c '^nucleus:' "$TMPDIR/err")"
  grep '^nucleus:' "$TMPDIR/err" | grep -q -- "$_w" && ok "$_n: names $_w" ||
    fail "$_n" "'$_w' not in: $(grep '^nucleus:' "$TMPDIR/err")"
  grep '^hint:' "$TMPDIR/err" | grep -q -- "$_h" && ok "$_n: hint says $_h" ||
    fail "$_n" "no hint with '$_h': $(cat "$TMPDIR/err")"
  expect_eq "$_n: cgroup tree unchanged" "$_before" "$(cgroups)"
  expect_eq "$_n: no container state" "" "$(ls "$(nucleus_root)")"
}

B=$TMPDIR/b
make_bundle "$B" true
cp "$B/config.json" "$B/config.json.orig"

# ---- 1. hugetlb bound to a cgroup v1 hierarchy: not in v2's cgroup.controllers ----
grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers && ok "hugetlb offered by v2" ||
  fail "setup" "no hugetlb in $(cat /sys/fs/cgroup/cgroup.controllers)"
echo -hugetlb >/sys/fs/cgroup/cgroup.subtree_control || fail "setup" "cannot disable hugetlb below the root"
mkdir -p "$TMPDIR/v1h"
# The v2 hugetlb css of the children goes away asynchronously: retry the mount a little.
wait_for 5 mount -t cgroup -o hugetlb cgroup "$TMPDIR/v1h" || fail "setup" "cannot bind hugetlb to a v1 hierarchy"
if grep -q " $TMPDIR/v1h cgroup " /proc/mounts; then
  grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers && fail "setup" "hugetlb still offered by v2" ||
    ok "hugetlb gone from v2's cgroup.controllers"
  bundle_resources "$B" '"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]'
  refused "missing hugetlb (create)" hugetlb "umount $TMPDIR/v1h" nuc create -b "$B" bad1
  refused "missing hugetlb (run)" hugetlb "umount" nuc run -b "$B" bad1
  cp "$B/config.json.orig" "$B/config.json"
  umount "$TMPDIR/v1h"
fi
# v2 gets hugetlb back once the v1 hierarchy is gone.
wait_for 10 grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers || fail "restore" "hugetlb not back in v2"
echo +hugetlb >/sys/fs/cgroup/cgroup.subtree_control || fail "restore" "cannot enable hugetlb again"

# ---- 2. a huge page size this host does not have ----
echo "page sizes: $(ls /sys/kernel/mm/hugepages)"
bundle_resources "$B" '"hugepageLimits": [{"pageSize": "64KB", "limit": 4194304}]'
refused "no 64KB pages" 64KB "drop" nuc create -b "$B" bad2
grep '^nucleus:' "$TMPDIR/err" | grep -q '2MB' && ok "lists the sizes the host has" ||
  fail "page sizes" "$(cat "$TMPDIR/err")"
cp "$B/config.json.orig" "$B/config.json"

# ---- 3. cgroupsPath below a cgroup with a process of its own ----
mkdir /sys/fs/cgroup/vm-busy
sleep 1000 &
sl=$!
echo "$sl" >/sys/fs/cgroup/vm-busy/cgroup.procs
bundle_linux "$B" '"cgroupsPath": "/vm-busy/c1"'
bundle_resources "$B" '"memory": {"limit": 33554432}'
refused "internal process" memory "cgroupsPath" nuc create -b "$B" bad3
grep '^nucleus:' "$TMPDIR/err" | grep -q 'vm-busy' && ok "names the cgroup" || fail "internal process" "$(cat "$TMPDIR/err")"
[ -d /sys/fs/cgroup/vm-busy/c1 ] && fail "internal process" "vm-busy/c1 left" || ok "vm-busy/c1 not left"
expect_eq "the process stays where it was" "/vm-busy" "$(cgroup_of "$sl")"
kill "$sl"
wait "$sl" 2>/dev/null
rmdir /sys/fs/cgroup/vm-busy

# ---- 4. no delegation: a user the tree is not delegated to asks for limits ----
before=$(cgroups)
R=/tmp/vm-rootless.$$
mkdir -p "$R"
chown 65534:65534 "$R"
nucleus caps exec --user 65534:65534 -- env HOME="$R" TMPDIR="$R" XDG_RUNTIME_DIR="$R" \
  nucleus --root "$R/state" run --memory 32m -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
echo "rootless: exit $rc"
sed 's/^/  /' "$TMPDIR/err"
[ "$rc" != 0 ] && ok "rootless limits: exits non-zero" || fail "rootless" "exit 0"
expect_eq "rootless: one nucleus: line" 1 "$(grep -c '^nucleus:' "$TMPDIR/err")"
grep '^nucleus:' "$TMPDIR/err" | grep -q 'memory' && ok "rootless: names the memory controller" ||
  fail "rootless" "$(cat "$TMPDIR/err")"
grep -q '^hint:.*delegat' "$TMPDIR/err" && ok "rootless: hint names delegation" || fail "rootless hint" "$(cat "$TMPDIR/err")"
expect_eq "rootless: cgroup tree unchanged" "$before" "$(cgroups)"
rm -rf "$R"
finish
