#!/bin/sh
# The older-kernel lane (Debian 12's 6.1 LTS): what needs a newer kernel degrades or refuses
# with one clear message, and leaves nothing behind.
# - caps trace needs the capability:cap_capable tracepoint (Linux 6.14): one error line
#   naming it and the version, non-zero exit, no tracefs instance left.
# - Landlock on 6.1 is ABI 2: rights of later ABIs (truncate, TCP, ioctl_dev) are named by
#   `check`; best effort warns, --landlock-strict and --production refuse.
. /vm/lib.sh

case $(uname -r) in
  6.1.*) ok "kernel $(uname -r)" ;;
  *) fail "kernel" "this lane is for Linux 6.1, got $(uname -r)" ;;
esac

# nucleus_lines FILE: how many `nucleus:` error lines FILE has.
nucleus_lines() {
  grep -c '^nucleus:' "$1"
}

# ---- caps trace ----
T=/sys/kernel/tracing
[ -d "$T/events" ] || mount -t tracefs tracefs "$T"
[ -d "$T/events" ] && ok "tracefs mounted" || fail "tracefs" "not mounted at $T"
ls "$T/events/capability" >/dev/null 2>&1 &&
  fail "tracepoint" "events/capability exists on $(uname -r): this case expects it absent" ||
  ok "no events/capability on $(uname -r)"
inst_before=$(ls "$T/instances" | tr '\n' ' ')
mounts_before=$(grep -c ' tracefs ' /proc/mounts)
nucleus caps trace -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
echo "caps trace: exit $rc; stderr:"
cat "$TMPDIR/err"
[ "$rc" != 0 ] && ok "caps trace exits non-zero ($rc)" || fail "caps trace" "exit 0 without the tracepoint"
expect_eq "one nucleus: line" 1 "$(nucleus_lines "$TMPDIR/err")"
line=$(grep '^nucleus:' "$TMPDIR/err")
echo "$line" | grep -q 'cap_capable' && ok "names the tracepoint" || fail "message" "no tracepoint named: $line"
echo "$line" | grep -q '6\.14' && ok "names the kernel needed" || fail "message" "no version: $line"
echo "$line" | grep -q '(6\.1)' && ok "names this kernel" || fail "message" "no running version: $line"
[ ! -s "$TMPDIR/out" ] && ok "nothing on stdout" || fail "stdout" "$(cat "$TMPDIR/out")"
expect_eq "tracefs instances after" "$inst_before" "$(ls "$T/instances" | tr '\n' ' ')"
expect_eq "tracefs mounts after" "$mounts_before" "$(grep -c ' tracefs ' /proc/mounts)"

# The same refusal from `run --trace-caps` (before anything is created).
nuc run --trace-caps "$TMPDIR/report.json" -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
[ "$rc" != 0 ] && ok "run --trace-caps exits non-zero" || fail "run --trace-caps" "exit 0"
grep '^nucleus:' "$TMPDIR/err" | grep -q 'cap_capable' && ok "run --trace-caps names the tracepoint" ||
  fail "run --trace-caps" "$(cat "$TMPDIR/err")"
[ ! -e "$TMPDIR/report.json" ] && ok "no report written" || fail "report" "written anyway"
expect_eq "tracefs instances after run" "$inst_before" "$(ls "$T/instances" | tr '\n' ' ')"
expect_eq "cgroups after run" "" "$(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -name 'nucleus*')"

# --learn records capability checks too: refused the same way, no directory of results.
nuc run --learn "$TMPDIR/learned" -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
[ "$rc" != 0 ] && ok "run --learn exits non-zero" || fail "run --learn" "exit 0"
expect_eq "run --learn: one nucleus: line" 1 "$(grep -c '^nucleus:' "$TMPDIR/err")"
grep '^nucleus:' "$TMPDIR/err" | grep -q 'cap_capable' && ok "run --learn names the tracepoint" ||
  fail "run --learn" "$(cat "$TMPDIR/err")"
[ ! -e "$TMPDIR/learned/caps.json" ] && ok "no learned policy written" || fail "learn" "caps.json written"
expect_eq "tracefs instances after learn" "$inst_before" "$(ls "$T/instances" | tr '\n' ' ')"

# ---- nucleus check ----
nucleus check >"$TMPDIR/check" 2>&1
rc=$?
cat "$TMPDIR/check"
expect_eq "check exit (nucleus can run here)" 0 "$rc"
ll=$(grep -E '^[A-Za-z]+ +landlock ' "$TMPDIR/check")
echo "$ll" | grep -q 'ABI 2' && ok "check: Landlock ABI 2" || fail "check landlock" "$ll"
echo "$ll" | grep -q 'truncate (ABI 3, Linux 6.2)' && ok "check names what ABI 2 lacks" ||
  fail "check landlock" "$ll"
tp=$(grep -E 'cap_capable_tracepoint' "$TMPDIR/check")
echo "$tp" | grep -qi '^missing' && ok "check: tracepoint missing" || fail "check tracepoint" "$tp"
echo "$tp" | grep -q '6\.14' && ok "check says which kernel has it" || fail "check tracepoint" "$tp"
nucleus check --json >"$TMPDIR/check.json" 2>&1 && ok "check --json" || fail "check --json" "$(cat "$TMPDIR/check.json")"
grep -q '"unenforceable"' "$TMPDIR/check.json" && ok "check --json lists unenforceable rights" ||
  fail "check --json" "no unenforceable list"

# ---- Landlock: best effort warns, strict and production refuse ----
nuc run --landlock-exec / --landlock-rw /dev/null -- sh -c 'echo ran' >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
expect_eq "best effort runs" 0 "$rc"
expect_eq "best effort output" ran "$(cat "$TMPDIR/out")"
grep -q 'Landlock ABI 2 cannot enforce' "$TMPDIR/err" && ok "best effort warns, naming the ABI" ||
  fail "landlock warning" "$(cat "$TMPDIR/err")"
# What ABI 2 does enforce is enforced: writing outside the rw paths fails.
nuc run --landlock-exec / --landlock-rw /dev/null -- sh -c 'echo x >/tmp/x' >/dev/null 2>&1 &&
  fail "landlock enforced" "a write outside --landlock-rw succeeded" || ok "ABI 2 rules are enforced"

nuc run --landlock-strict --landlock-exec / -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
[ "$rc" != 0 ] && ok "--landlock-strict refuses" || fail "strict" "exit 0"
expect_eq "strict: one nucleus: line" 1 "$(nucleus_lines "$TMPDIR/err")"
grep '^nucleus:' "$TMPDIR/err" | grep -q 'truncate' && ok "strict names the right" || fail "strict" "$(cat "$TMPDIR/err")"
grep -q '^hint:.*ABI 2' "$TMPDIR/err" && ok "strict hint names the ABI" || fail "strict hint" "$(cat "$TMPDIR/err")"

nuc run --landlock-connect 80 -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
expect_eq "TCP rules best effort runs" 0 "$rc"
grep -q 'connect_tcp' "$TMPDIR/err" && ok "warns that connect_tcp is not enforced" || fail "net warning" "$(cat "$TMPDIR/err")"

nuc run --production --memory 64m --pids 64 --landlock-exec / -- true >"$TMPDIR/out" 2>"$TMPDIR/err"
rc=$?
cat "$TMPDIR/err"
[ "$rc" != 0 ] && ok "production refuses" || fail "production" "exit 0"
grep -q 'Landlock ABI 2 cannot enforce' "$TMPDIR/err" && ok "production names the Landlock ABI" ||
  fail "production" "$(cat "$TMPDIR/err")"
expect_eq "cgroups left" "" "$(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -name 'nucleus*')"
finish
