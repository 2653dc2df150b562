#!/bin/sh
# The busybox lane is also an older-kernel lane (6.1 LTS): features that need a newer kernel
# degrade with one clear message instead of failing obscurely or silently.
. /vm/lib.sh

# Capability tracing needs the capability:cap_capable tracepoint (Linux 6.14+): refused,
# naming the kernel, and the program does not run.
marker=$TMPDIR/ran
out=$(nuc run --trace-caps "$TMPDIR/trace.json" -v "$TMPDIR:/out:rw" -- touch /out/ran 2>&1)
rc=$?
echo "$out"
[ "$rc" != 0 ] && ok "--trace-caps refused (exit $rc)" || fail "--trace-caps" "exit 0 on 6.1"
echo "$out" | grep -q '6\.14' && ok "--trace-caps names Linux 6.14" ||
  fail "--trace-caps message" "$(echo "$out" | head -2 | tr '\n' ' ')"
[ ! -e "$marker" ] && ok "the program did not run" || fail "--trace-caps" "the program ran anyway"
[ ! -e "$TMPDIR/trace.json" ] && ok "no report written" || fail "--trace-caps" "a report was written"

# Landlock network rules need ABI 4 (6.7); 6.1 has ABI 2. Best effort: the program runs and a
# warning says what is not enforced; --landlock-strict refuses.
out=$(nuc run --landlock-exec / --landlock-bind 8080 -- true 2>&1)
rc=$?
echo "$out"
expect_eq "landlock best effort exit" 0 "$rc"
echo "$out" | grep -qi 'landlock' && ok "a warning names Landlock" ||
  fail "landlock warning" "no warning on ABI 2: $out"
out=$(nuc run --landlock-strict --landlock-exec / --landlock-bind 8080 -- true 2>&1)
rc=$?
echo "$out"
[ "$rc" != 0 ] && ok "--landlock-strict refused (exit $rc)" || fail "--landlock-strict" "exit 0 on ABI 2"
[ "$(echo "$out" | grep -c '^nucleus: ')" -ge 1 ] && ok "one error line" ||
  fail "--landlock-strict message" "$out"
finish
