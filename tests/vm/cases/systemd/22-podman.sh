#!/bin/sh
# Rootful Podman on a v2-only systemd host with --runtime nucleus. Podman's cgroup manager
# here is systemd, so nucleus gets --systemd-cgroup and cgroupsPath machine.slice:libpod:ID
# and asks systemd for libpod-ID.scope. run, exec, stop, --memory, --pids-limit, --device,
# each observed inside the guest.
. /vm/lib.sh

R=/usr/local/bin/nucleus
P="podman --runtime $R"
img=$(podman_busybox) || {
  fail "podman import" "cannot import the busybox image"
  finish
}
expect_eq "podman's cgroup manager" systemd "$(podman info --format '{{.Host.CgroupManager}}' 2>&1)"
name=nuc$$
cleanup() { $P rm -f -t 0 "$name" >/dev/null 2>&1; }
trap cleanup EXIT

# run with limits: visible inside, through the container's own cgroup namespace.
out=$($P run --rm --network none --memory 32m --pids-limit 20 "$img" \
  sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /proc/self/cgroup' 2>&1)
rc=$?
# nucleus' warnings (to stderr, which conmon copies into the container's output) aside.
out=$(echo "$out" | grep -v '^nucleus: warning')
echo "$out"
expect_eq "podman run --memory --pids-limit" 0 "$rc"
expect_eq "inside: memory.max (--memory 32m)" 33554432 "$(echo "$out" | sed -n 1p)"
expect_eq "inside: pids.max (--pids-limit 20)" 20 "$(echo "$out" | sed -n 2p)"
expect_eq "inside: own cgroup" "0::/" "$(echo "$out" | sed -n 3p)"

# --device: the node is there and works.
out=$($P run --rm --network none --device /dev/zero:/dev/myzero "$img" \
  sh -c 'test -c /dev/myzero && head -c 5 /dev/myzero | wc -c' 2>&1 | grep -v '^nucleus: warning')
expect_eq "--device /dev/zero:/dev/myzero reads" 5 "$(echo "$out" | tr -d ' ' | tail -1)"

# Detached: the scope systemd made, exec, stop with the program's exit code.
cid=$($P run -d --name "$name" --network none --memory 48m --pids-limit 10 "$img" \
  sh -c 'trap "exit 7" TERM; while :; do sleep 1; done' 2>&1)
rc=$?
expect_eq "podman run -d" 0 "$rc"
cid=$(echo "$cid" | tail -1)
unit=libpod-$cid.scope
expect_eq "scope ActiveState" active "$(systemctl show "$unit" -p ActiveState --value 2>&1)"
expect_eq "scope Delegate" yes "$(systemctl show "$unit" -p Delegate --value 2>&1)"
expect_eq "scope MemoryMax" 50331648 "$(systemctl show "$unit" -p MemoryMax --value 2>&1)"
pid=$($P inspect -f '{{.State.Pid}}' "$name")
expect_eq "container process in its scope" "/machine.slice/$unit" "$(cgroup_of "$pid")"
out=$($P exec "$name" cat /sys/fs/cgroup/memory.max 2>&1 | grep -v '^nucleus: warning')
expect_eq "podman exec: memory.max" 50331648 "$out"
expect_eq "scope pids.max (--pids-limit 10)" 10 "$(cat "/sys/fs/cgroup/machine.slice/$unit/pids.max")"
# Enforced: 12 more processes in a container limited to 10 cannot all be made.
out=$($P exec "$name" sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; wait' 2>&1)
case $out in
  *"can't fork"* | *"Resource temporarily unavailable"*) ok "pids.max enforced: $(echo "$out" | grep -m1 fork)" ;;
  *) fail "pids.max enforced" "12 forks under --pids-limit 10 went through: $out" ;;
esac
# The sleeps that did start hold pids.max for 5 s: exec needs a free pid.
pids_cur=/sys/fs/cgroup/machine.slice/$unit/pids.current
wait_for 15 sh -c "[ \$(cat $pids_cur) -le 3 ]" || fail "sleeps gone" "pids.current $(cat "$pids_cur")"
out=$($P exec "$name" sh -c 'exit 3' 2>&1)
rc=$?
expect_eq "podman exec exit code" 3 "$rc"
$P stop -t 10 "$name" >/dev/null 2>&1
expect_eq "podman stop: exit code (TERM trapped)" 7 "$($P inspect -f '{{.State.ExitCode}}' "$name" 2>&1)"
wait_for 10 sh -c "! systemctl is-active --quiet $unit" || fail "scope after stop" "$unit still active"
[ -d "/sys/fs/cgroup/machine.slice/$unit" ] && fail "scope after stop" "its cgroup is still there"
check "podman rm" $P rm "$name"
finish
