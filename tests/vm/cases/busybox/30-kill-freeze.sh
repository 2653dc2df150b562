#!/bin/sh
# kill --all, delete --force, pause/resume on a pure cgroup v2 host (cgroup.kill,
# cgroup.freeze and `frozen 1` in cgroup.events). Freezing is proved by a counter that stops
# advancing while paused and advances again after resume; kill --all by a grandchild that is
# found only through the container's cgroup.
. /vm/lib.sh

# counter DIR: the counter the container's grandchild advances (read through its init).
counter() {
  cat "/proc/$1/root/dev/shm/count" 2>/dev/null || echo none
}

# alive PID: a process that exists and is not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# no_pidns DIR: drop the PID namespace from a bundle (its processes are then found only
# through the cgroup: killing its first process does not take the others along).
no_pidns() {
  awk '{ l[NR] = $0 } END { for (i = 1; i <= NR; i++) { if (l[i + 1] ~ /"type": "pid"/) { i += 2; continue }; print l[i] } }' \
    "$1/config.json" >"$1/config.json.new" && mv "$1/config.json.new" "$1/config.json"
}

# The container's init forks a subshell that starts the counter and exits: the counter is a
# grandchild, orphaned from its parent. init then sleeps (as PID 1 of its namespace it
# ignores SIGTERM from outside, having no handler).
setup() {
  make_bundle "$1" sh /start
  cat >"$1/rootfs/start" <<'EOF'
( /bin/counter & echo $! >/dev/shm/gc ) &
exec sleep 1000
EOF
  cat >"$1/rootfs/bin/counter" <<'EOF'
#!/bin/sh
i=0
while :; do i=$((i + 1)); echo $i >/dev/shm/count; usleep 20000; done
EOF
  chmod 755 "$1/rootfs/bin/counter"
}

advancing() {
  a=$(counter "$1")
  sleep 1
  b=$(counter "$1")
  [ "$a" != none ] && [ "$b" != none ] && [ "$b" -gt "$a" ]
}

# ---- A: pause/resume, kill without and with --all (its own PID namespace) ----
A=$TMPDIR/a
setup "$A"
qcheck "create a" nuc create -b "$A" kfa
qcheck "start a" nuc start kfa
pid=$(state_field kfa pid)
cg=/sys/fs/cgroup$(cgroup_of "$pid")
echo "kfa: init $pid, cgroup $cg"
[ -n "$pid" ] && [ -d "$cg" ] && ok "kfa has a cgroup v2 directory" || fail "cgroup" "pid '$pid', cgroup '$cg'"
wait_for 10 test -s "/proc/$pid/root/dev/shm/count" || fail "counter" "the counter never wrote"
advancing "$pid" && ok "counter advances" || fail "counter" "does not advance before pause"
n=$(wc -l <"$cg/cgroup.procs")
[ "$n" -ge 2 ] && ok "$n processes in the cgroup" || fail "cgroup.procs" "$n processes"

qcheck "pause" nuc pause kfa
expect_eq "cgroup.freeze after pause" 1 "$(cat "$cg/cgroup.freeze")"
grep -qx 'frozen 1' "$cg/cgroup.events" && ok "cgroup.events: frozen 1" ||
  fail "frozen" "cgroup.events: $(tr '\n' ' ' <"$cg/cgroup.events")"
expect_eq "status paused" paused "$(state_field kfa status)"
for p in $(cat "$cg/cgroup.procs"); do echo "paused: $p $(sed -n 's/^State:\t*//p' "/proc/$p/status")"; done
a=$(counter "$pid")
sleep 1.5
b=$(counter "$pid")
expect_eq "counter while paused (frozen: it does not move)" "$a" "$b"

# Signals other than SIGKILL leave a paused container paused (the freezer is not thawed
# behind the user's back); the signal is delivered at resume.
qcheck "kill --all TERM while paused" nuc kill --all kfa TERM
expect_eq "still paused after kill --all TERM" 1 "$(cat "$cg/cgroup.freeze")"
expect_eq "status still paused" paused "$(state_field kfa status)"
c=$(counter "$pid")
expect_eq "counter still frozen" "$a" "$c"

qcheck "resume" nuc resume kfa
grep -qx 'frozen 0' "$cg/cgroup.events" && ok "cgroup.events: frozen 0" ||
  fail "thawed" "cgroup.events: $(tr '\n' ' ' <"$cg/cgroup.events")"
expect_eq "status running" running "$(state_field kfa status)"
# The TERM sent while paused arrives now: the counter (no handler) ends; init (PID 1 of its
# namespace, no handler) ignores it.
wait_for 10 sh -c "[ \$(wc -l <$cg/cgroup.procs) = 1 ]" && ok "kill --all TERM reached the grandchild" ||
  fail "kill --all TERM" "cgroup.procs: $(tr '\n' ' ' <"$cg/cgroup.procs")"
alive "$pid" && ok "init survives TERM" || fail "init" "init died of TERM"

# Plain kill signals the first process only.
make_counter_again() {
  nuc exec kfa sh -c '( /bin/counter </dev/null >/dev/null 2>&1 & )' >/dev/null 2>&1
}
make_counter_again
wait_for 10 sh -c "[ \$(wc -l <$cg/cgroup.procs) -ge 2 ]" || fail "exec counter" "$(cat "$cg/cgroup.procs")"
# The file still holds the ended counter's last value until the new one writes over it:
# retry (each try takes 1 s) until it advances.
wait_for 10 advancing "$pid" && ok "counter advances after resume" || fail "counter" "does not advance after resume"
qcheck "kill TERM (not --all)" nuc kill kfa TERM
sleep 0.5
advancing "$pid" && ok "kill without --all leaves the others" || fail "kill" "the counter stopped"

# SIGKILL to a paused container goes through cgroup.kill: everything dies, frozen or not.
qcheck "pause again" nuc pause kfa
qcheck "kill --all KILL while paused" nuc kill --all kfa KILL
wait_for 10 sh -c "[ ! -s $cg/cgroup.procs ]" && ok "cgroup empty after kill --all KILL" ||
  fail "kill --all KILL" "cgroup.procs: $(tr '\n' ' ' <"$cg/cgroup.procs")"
grep -qx 'populated 0' "$cg/cgroup.events" && ok "cgroup.events: populated 0" ||
  fail "populated" "$(tr '\n' ' ' <"$cg/cgroup.events")"
wait_for 10 sh -c "! [ -d /proc/$pid ] || grep -q ') Z' /proc/$pid/stat" || fail "init" "init $pid still alive"
expect_eq "status stopped" stopped "$(state_field kfa status)"
qcheck "delete kfa" nuc delete kfa
[ -d "$cg" ] && fail "delete" "$cg left behind" || ok "cgroup removed by delete"

# ---- B: delete --force of a running container without a PID namespace ----
B=$TMPDIR/b
setup "$B"
no_pidns "$B"
qcheck "create b" nuc create -b "$B" kfb
qcheck "start b" nuc start kfb
pid=$(state_field kfb pid)
cg=/sys/fs/cgroup$(cgroup_of "$pid")
wait_for 10 test -s "/proc/$pid/root/dev/shm/gc" || fail "gc" "no grandchild pid"
gc=$(cat "/proc/$pid/root/dev/shm/gc")
echo "kfb: init $pid, grandchild $gc (orphaned: parent $(awk '{print $4}' "/proc/$gc/stat")), cgroup $cg"
alive "$gc" && ok "grandchild alive" || fail "grandchild" "$gc is not running"
qcheck "delete --force b" nuc delete --force kfb
alive "$gc" && fail "delete --force" "grandchild $gc survived" || ok "delete --force killed the grandchild"
alive "$pid" && fail "delete --force" "init $pid survived" || ok "delete --force killed init"
[ -d "$cg" ] && fail "delete --force" "$cg left behind" || ok "cgroup removed"
[ -z "$(nuc list -q 2>/dev/null)" ] && ok "no container left" || fail "list" "$(nuc list 2>&1)"
[ -z "$(ls "$(nucleus_root)")" ] && ok "no state left" || fail "state" "$(ls "$(nucleus_root)")"

# ---- C: kill --all KILL reaches the orphaned grandchild without a PID namespace ----
qcheck "create c" nuc create -b "$B" kfc
qcheck "start c" nuc start kfc
pid=$(state_field kfc pid)
cg=/sys/fs/cgroup$(cgroup_of "$pid")
wait_for 10 test -s "/proc/$pid/root/dev/shm/gc" || fail "gc" "no grandchild pid"
gc=$(cat "/proc/$pid/root/dev/shm/gc")
qcheck "kill --all KILL" nuc kill --all kfc KILL
wait_for 10 sh -c "[ ! -s $cg/cgroup.procs ]" && ok "cgroup empty" || fail "kill --all" "$(cat "$cg/cgroup.procs")"
wait_for 5 sh -c "! [ -r /proc/$gc/stat ] || grep -q ') Z' /proc/$gc/stat" &&
  ok "kill --all reached the orphaned grandchild" || fail "kill --all" "grandchild $gc alive"
qcheck "delete c" nuc delete kfc
[ -d "$cg" ] && fail "delete" "$cg left behind" || ok "cgroup removed"
finish
