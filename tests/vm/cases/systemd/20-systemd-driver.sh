#!/bin/sh
# The systemd cgroup driver: with --systemd-cgroup and linux.cgroupsPath slice:prefix:name,
# nucleus asks systemd (D-Bus) for a transient scope with Delegate=yes and the limits as
# properties; the limits are in force and visible inside; delete stops the unit; bad input
# is one clear error and leaves nothing; a create killed half-way is cleaned up by
# `delete --force` (the record names the unit).
. /vm/lib.sh

id=sd$$
unit=nucleus-$id.scope
cg=/sys/fs/cgroup/machine.slice/$unit
b=$TMPDIR/b
# clone_bundle SRC DST: DST's config.json is SRC's, with SRC's root filesystem (one busybox
# tree for the whole case: making one is slow under TCG).
clone_bundle() {
  mkdir -p "$2" && sed "s|\"path\": \"rootfs\"|\"path\": \"$1/rootfs\"|" "$1/config.json" >"$2/config.json"
}
make_bundle "$b" sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max /proc/self/cgroup; exec sleep 1000'
bundle_linux "$b" "\"cgroupsPath\": \"machine.slice:nucleus:$id\""
bundle_resources "$b" '"memory": {"limit": 33554432}, "pids": {"limit": 20}, "cpu": {"quota": 50000, "period": 100000}'

cleanup() {
  nuc delete --force "$id" >/dev/null 2>&1
  nuc delete --force "${id}b" >/dev/null 2>&1
  nuc delete --force "${id}k" >/dev/null 2>&1
  systemctl stop "$unit" "nucleus-${id}k.scope" >/dev/null 2>&1
}
trap cleanup EXIT

out=$TMPDIR/out
if nuc --systemd-cgroup create --bundle "$b" "$id" >"$out" 2>"$TMPDIR/err"; then
  ok "create --systemd-cgroup"
else
  fail "create --systemd-cgroup" "$(cat "$TMPDIR/err")"
  finish
fi
show() { systemctl show "$unit" -p "$1" --value 2>&1; }
expect_eq "ActiveState" active "$(show ActiveState)"
expect_eq "Delegate" yes "$(show Delegate)"
expect_eq "MemoryMax" 33554432 "$(show MemoryMax)"
expect_eq "TasksMax" 20 "$(show TasksMax)"
expect_eq "CPUQuotaPerSecUSec" 500ms "$(show CPUQuotaPerSecUSec)"
expect_eq "ControlGroup" "/machine.slice/$unit" "$(show ControlGroup)"
pid=$(nuc state "$id" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1)
expect_eq "the container's process is in the scope" "/machine.slice/$unit" "$(cgroup_of "$pid")"
expect_eq "memory.max of the scope" 33554432 "$(cat "$cg/memory.max")"
expect_eq "pids.max of the scope" 20 "$(cat "$cg/pids.max")"

# The device allow-list applies to the unit's cgroup too (an eBPF program attached by
# nucleus): the guest's own disk, readable here, cannot be opened from inside, while a
# node of the allow-list can.
disk=$(cat /sys/block/vda/dev)
check "control: the guest reads its disk" head -c 1 /dev/vda
blk="mknod /dev/xblk b ${disk%%:*} ${disk#*:} && head -c 1 /dev/xblk >/dev/null"
if err=$(nuc exec "$id" sh -c "$blk" 2>&1); then
  fail "block device denied in the unit's cgroup" "the container read $disk"
else
  case $err in
    *"Operation not permitted"*) ok "block device $disk denied: $err" ;;
    *) fail "block device denied in the unit's cgroup" "unexpected error: $err" ;;
  esac
fi
check "allow-list: /dev/null opens" nuc exec "$id" sh -c 'echo x >/dev/null'

check "start" nuc start "$id"
wait_for 10 grep -q '^0::' "$out" || fail "container output" "$(cat "$out")"
expect_eq "inside: memory.max" 33554432 "$(sed -n 1p "$out")"
expect_eq "inside: pids.max" 20 "$(sed -n 2p "$out")"
expect_eq "inside: cpu.max" "50000 100000" "$(sed -n 3p "$out")"
expect_eq "inside: own cgroup is the namespace's root" "0::/" "$(sed -n 4p "$out")"

# update: the files and systemd's properties both change.
check "update --memory" nuc update --memory 67108864 --pids-limit 30 "$id"
expect_eq "memory.max after update" 67108864 "$(cat "$cg/memory.max")"
expect_eq "MemoryMax after update" 67108864 "$(show MemoryMax)"
expect_eq "TasksMax after update" 30 "$(show TasksMax)"

# The same unit name again: a clear error, and the first container's unit is left alone.
b2=$TMPDIR/b2
clone_bundle "$b" "$b2"
bundle_linux "$b2" "\"cgroupsPath\": \"machine.slice:nucleus:$id\""
if err=$(nuc --systemd-cgroup create --bundle "$b2" "${id}b" 2>&1); then
  fail "duplicate unit" "create succeeded"
else
  case $err in
    *"$unit already exists"*) ok "duplicate unit: $err" ;;
    *) fail "duplicate unit" "unclear error: $err" ;;
  esac
fi
expect_eq "first container's unit survives" active "$(show ActiveState)"
[ -d "$TMPDIR/nucleus-state/${id}b" ] && fail "duplicate unit" "state of the failed create left behind"

check "delete --force" nuc delete --force "$id"
st=$(systemctl show "$unit" -p ActiveState --value 2>&1)
expect_eq "unit after delete" inactive "$st"
[ -d "$cg" ] && fail "scope cgroup after delete" "$cg still exists"
systemctl list-units --all --plain --no-legend "$unit" | grep -q . && fail "unit after delete" "still listed"

# Bad cgroupsPath: one clear error naming the form, nothing left.
b3=$TMPDIR/b3
clone_bundle "$b" "$b3"
sed -i "s|machine.slice:nucleus:$id|machine.slice:oops|" "$b3/config.json"
if err=$(nuc --systemd-cgroup run --bundle "$b3" bad$$ 2>&1); then
  fail "bad cgroupsPath" "accepted"
else
  case $err in
    *"slice:prefix:name"*) ok "bad cgroupsPath: $err" ;;
    *) fail "bad cgroupsPath" "unclear error: $err" ;;
  esac
fi
[ -d "$TMPDIR/nucleus-state/bad$$" ] && fail "bad cgroupsPath" "state left behind"

# A create killed half-way (in a createContainer hook, after the scope was started):
# delete --force stops the unit the record names.
k=${id}k
bk=$TMPDIR/bk
clone_bundle "$b" "$bk"
sed -i "s|machine.slice:nucleus:$id|machine.slice:nucleus:$k|" "$bk/config.json"
bundle_insert "$bk" '{' '"hooks": {"createContainer": [{"path": "/bin/sleep", "args": ["sleep", "60"]}]}'
# Not through the nuc function: $! must be nucleus itself, not a subshell.
nucleus --root "$(nucleus_root)" --systemd-cgroup create --bundle "$bk" "$k" >/dev/null 2>&1 &
cpid=$!
if wait_for 30 systemctl is-active --quiet "nucleus-$k.scope"; then
  ok "half-way: scope active during the hook"
else
  fail "half-way" "the scope never became active"
fi
expect_eq "the killed process is nucleus create" nucleus "$(cat /proc/$cpid/comm 2>&1)"
kill -9 "$cpid"
wait "$cpid" 2>/dev/null
check "delete --force after a killed create" nuc delete --force "$k"
expect_eq "unit after delete --force" inactive "$(systemctl show "nucleus-$k.scope" -p ActiveState --value 2>&1)"
[ -d "/sys/fs/cgroup/machine.slice/nucleus-$k.scope" ] && fail "half-way" "scope cgroup left"
finish
