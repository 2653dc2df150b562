#!/bin/sh
# OOM on a pure cgroup v2 host: a memory hog in a 16 MiB container is killed by the kernel;
# memory.events counts it (oom_kill), `events` streams an `oom` record, and `events --stats`
# carries the counters (memory.raw.oom, memory.raw.oom_kill).
. /vm/lib.sh

# events_counter FILE KEY: the value of KEY in a cgroup v2 key-value file.
kv() {
  sed -n "s/^$2 //p" "$1"
}

B=$TMPDIR/b
# The hog: tail keeps a line-less input in memory (64 MiB, far beyond the limit). The
# container's first process survives it and waits.
make_bundle "$B" sh -c 'sleep 1; head -c 64m /dev/zero | tail >/dev/null; echo hog-ended; exec sleep 1000'
bundle_resources "$B" '"memory": {"limit": 16777216, "swap": 16777216}'
qcheck "create" nuc create -b "$B" oom1
pid=$(state_field oom1 pid)
cg=/sys/fs/cgroup$(cgroup_of "$pid")
expect_eq "memory.max" 16777216 "$(cat "$cg/memory.max")"
before=$(kv "$cg/memory.events" oom_kill)
expect_eq "oom_kill before" 0 "$before"

# The stream is watching before the container runs.
nuc events --interval 30s oom1 >"$TMPDIR/events.out" 2>"$TMPDIR/events.err" &
ev=$!
sleep 0.5
qcheck "start" nuc start oom1
wait_for 60 sh -c "[ \$(sed -n 's/^oom_kill //p' $cg/memory.events) -ge 1 ]" &&
  ok "memory.events oom_kill >= 1" || fail "oom_kill" "memory.events: $(tr '\n' ' ' <"$cg/memory.events")"
echo "memory.events: $(tr '\n' ' ' <"$cg/memory.events")"

# --stats: one record, with the counters.
stats=$(nuc events --stats oom1 2>&1)
echo "events --stats: $stats"
n=$(echo "$stats" | tr ',{}' '\n\n\n' | sed -n 's/^ *"oom_kill": *\([0-9]*\) *$/\1/p' | head -1)
[ -n "$n" ] && [ "$n" -ge 1 ] && ok "events --stats: oom_kill $n" ||
  fail "events --stats" "no oom_kill >= 1 in: $stats"
echo "$stats" | grep -q '"type": *"stats"' && ok "a stats record" || fail "stats" "$stats"

# The stream reports the OOM, and ends with the container.
qcheck "kill" nuc kill oom1 KILL
wait_for 20 sh -c "! kill -0 $ev 2>/dev/null" || {
  fail "events" "the stream did not end with the container"
  kill "$ev"
}
wait "$ev"
expect_eq "events exit status" 0 "$?"
echo "events: $(cat "$TMPDIR/events.out") / $(cat "$TMPDIR/events.err")"
grep -q '"type": *"oom"' "$TMPDIR/events.out" && ok "events streamed an oom record" ||
  fail "events" "no oom record in: $(cat "$TMPDIR/events.out") $(cat "$TMPDIR/events.err")"
qcheck "delete" nuc delete oom1
[ -d "$cg" ] && fail "delete" "$cg left" || ok "cgroup removed"
finish
