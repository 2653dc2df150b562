#!/bin/sh
# Crash safety on cgroup v2: `create` SIGKILLed half-way (at random times), then
# `delete --force` leaves no cgroup, no state and no process. 20 kills at 0-15 ms after the
# start, and 10 more spread over a whole create (TCG is slow: a create takes much longer
# than on hardware).
. /vm/lib.sh

cgroups() {
  find /sys/fs/cgroup -mindepth 1 -type d | sort
}

# rand N: a random number in 0..N-1.
rand() {
  echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $1))
}

# uptime_ms: milliseconds since boot (centisecond resolution).
uptime_ms() {
  awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# strays ID: processes (not zombies) that are outside the root cgroup or name ID in their
# command line, other than this shell's own.
strays() {
  for p in /proc/[0-9]*; do
    n=${p#/proc/}
    [ "$n" = $$ ] && continue
    st=$(sed -n 's/^State:\t*\([A-Z]\).*/\1/p' "$p/status" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] && continue
    cg=$(sed -n 's/^0:://p' "$p/cgroup" 2>/dev/null)
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
    case "$cmd" in *" $1"*) echo "$n($cg): $cmd"; continue ;; esac
    [ -n "$cg" ] && [ "$cg" != / ] && echo "$n($cg): $cmd"
  done
}

B=$TMPDIR/b
make_bundle "$B" sleep 1000
bundle_resources "$B" '"memory": {"limit": 33554432}, "pids": {"limit": 64}'
before=$(cgroups)
[ -z "$(strays ckx)" ] && ok "no stray process before" || fail "before" "$(strays ckx)"

# One full create and delete, timed.
t0=$(uptime_ms)
check "a whole create" nuc create -b "$B" ck0
full=$(($(uptime_ms) - t0))
check "delete --force after a whole create" nuc delete --force ck0
echo "a whole create takes ${full} ms here"
[ "$full" -gt 15 ] || full=16

bad=0
i=1
while [ "$i" -le 30 ]; do
  if [ "$i" -le 20 ]; then ms=$(rand 16); else ms=$(rand "$full"); fi
  id=ck$i
  nuc create -b "$B" "$id" >/dev/null 2>&1 &
  p=$!
  [ "$ms" -gt 0 ] && usleep $((ms * 1000))
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  out=$(nuc delete --force "$id" 2>&1) || {
    fail "delete --force $id (killed at ${ms} ms)" "$out"
    bad=1
  }
  left=$(cgroups)
  if [ "$left" != "$before" ]; then
    fail "cgroups after $id (killed at ${ms} ms)" "$(echo "$left" | grep -vxF "$before" | tr '\n' ' ')"
    bad=1
  fi
  if [ -n "$(ls "$(nucleus_root)")" ]; then
    fail "state after $id (killed at ${ms} ms)" "$(ls "$(nucleus_root)")"
    bad=1
  fi
  s=$(strays "$id")
  if [ -n "$s" ]; then
    fail "processes after $id (killed at ${ms} ms)" "$s"
    bad=1
  fi
  echo "$id: killed at ${ms} ms: clean"
  i=$((i + 1))
done
[ "$bad" = 0 ] && ok "30 killed creates, nothing left"
finish
