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

# strays ID: live processes (not zombies) that are outside the root cgroup or have ID as an
# argument. Few processes are spawned per call: TCG makes each fork costly.
strays() {
  {
    grep -H '^0::' /proc/[0-9]*/cgroup 2>/dev/null | grep -v ':0::/$' | sed 's,^/proc/\([0-9]*\)/.*,\1,'
    grep -lxzF "$1" /proc/[0-9]*/cmdline 2>/dev/null | sed 's,^/proc/\([0-9]*\)/.*,\1,'
  } | sort -u | while read -r n; do
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$n/status" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ] && echo "$n($(sed -n 's/^0:://p' "/proc/$n/cgroup")): $(tr '\0' ' ' <"/proc/$n/cmdline")"
  done
}

B=$TMPDIR/b
make_bundle "$B" sleep 1000
bundle_resources "$B" '"memory": {"limit": 33554432}, "pids": {"limit": 64}'
before=$(cgroups)
[ -z "$(strays ckx)" ] && ok "no stray process before" || fail "before" "$(strays ckx)"

# One full create and delete, timed.
t0=$(uptime_ms)
qcheck "a whole create" nuc create -b "$B" ck0
full=$(($(uptime_ms) - t0))
qcheck "delete --force after a whole create" nuc delete --force ck0
echo "a whole create takes ${full} ms here"
[ "$full" -gt 15 ] || full=16

bad=0
cleaned=0
i=1
while [ "$i" -le 30 ]; do
  # 1-20: 0-15 ms; 21-30: one in each tenth of a whole create (plus jitter).
  if [ "$i" -le 20 ]; then ms=$(rand 16); else ms=$(((i - 21) * full / 10 + $(rand $((full / 10 + 1))))); fi
  id=ck$i
  # nucleus itself in the background (not the `nuc` function: $! would be a subshell).
  nucleus --root "$(nucleus_root)" create -b "$B" "$id" >/dev/null 2>&1 &
  p=$!
  [ "$ms" -gt 0 ] && usleep $((ms * 1000))
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  # What the kill left for delete --force to clean up.
  found=""
  [ -d "$(nucleus_root)/$id" ] && found="$found state"
  [ -d "/sys/fs/cgroup/nucleus-$id" ] && found="$found cgroup" && cleaned=$((cleaned + 1))
  [ -n "$(strays "$id")" ] && found="$found process"
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
  echo "$id: killed at ${ms} ms; left for delete --force:${found:- nothing}"
  i=$((i + 1))
done
[ "$bad" = 0 ] && ok "30 killed creates, nothing left"
# The kills must have hit creates half-way (else nothing was tested): those spread over a
# whole create find a cgroup made and its container not finished.
[ "$cleaned" -ge 1 ] && ok "$cleaned kills left a cgroup that delete --force removed" ||
  fail "coverage" "no kill landed after the cgroup was made"
finish
