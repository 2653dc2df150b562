#!/bin/sh
# The guest runner: runs every /vm/cases/*.sh (one lane's cases) with a timeout and a fresh
# TMPDIR, prints `PASS NN-name` / `FAIL NN-name: reason` (and the case's output on failure),
# then the closing line `vm-lane LANE: N passed, M failed`. The host side greps for it.
#
#   /vm/runner.sh LANE
LANE=${1:?usage: runner.sh LANE}
CASE_TIMEOUT=${VM_CASE_TIMEOUT:-240}
export VM_LANE=$LANE
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
passed=0
failed=0
echo "vm: $LANE runner starts at uptime $(cut -d' ' -f1 /proc/uptime) s"
# One file per case; an optional /vm/only (written by run.sh from $VM_CASES) selects some.
for c in /vm/cases/*.sh; do
  [ -f "$c" ] || continue
  name=$(basename "$c" .sh)
  if [ -s /vm/only ] && ! grep -qx "$name" /vm/only && ! grep -qx "${name%%-*}" /vm/only; then
    continue
  fi
  dir=$(mktemp -d /tmp/vm-case.XXXXXX)
  mkdir -p "$dir/tmp"
  log=$dir/log
  echo "--- $name" >/dev/kmsg 2>/dev/null
  start=$(date +%s)
  (
    cd "$dir/tmp" || exit 1
    TMPDIR=$dir/tmp VM_REASON_FILE=$dir/reason exec timeout -s KILL "$CASE_TIMEOUT" sh "$c"
  ) >"$log" 2>&1 </dev/null
  rc=$?
  secs=$(($(date +%s) - start))
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "PASS $name (${secs}s)"
  else
    failed=$((failed + 1))
    reason=$(cat "$dir/reason" 2>/dev/null)
    [ -n "$reason" ] || reason=$(grep -v '^ok: ' "$log" | tail -1)
    [ "$rc" = 137 ] && reason="timed out after ${CASE_TIMEOUT}s; $reason"
    echo "FAIL $name: exit $rc: $reason"
    sed -e 's/^/    | /' "$log" | tail -60
  fi
  rm -rf "$dir"
done
echo "vm-lane $LANE: $passed passed, $failed failed"
