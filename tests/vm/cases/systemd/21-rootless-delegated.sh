#!/bin/sh
# Rootless on cgroup v2 with a delegated subtree: uid 1000, from inside its own
# `systemd-run --user --scope`, with --systemd-cgroup asks its own user manager (session bus)
# for a delegated scope, as rootless Podman does. Limits the delegation allows are applied
# and visible inside; a limit whose controller user@.service does not delegate is one clear
# error naming the controller and Delegate=, and leaves no unit and no state behind.
. /vm/lib.sh

user=tester
uid=$(id -u $user)
export XDG_RUNTIME_DIR=/run/user/$uid
base=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service
wait_for 60 test -S "$XDG_RUNTIME_DIR/bus" || fail "user bus" "no $XDG_RUNTIME_DIR/bus"
echo "user@$uid.service delegates: $(cat "$base/cgroup.controllers")"

d=$(mktemp -d /tmp/rootless.XXXXXX)
chown $user: "$d"
as_user() {
  runuser -u $user -- env XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG_RUNTIME_DIR/bus" HOME="$d" "$@"
}
# Inside a scope of the user's own manager: a process of the user, in its delegated tree.
in_user_scope() {
  as_user systemd-run --user --scope --quiet -- "$@"
}
N="nucleus --root $d/state --systemd-cgroup"
id=rl$$
unit=nucleus-$id.scope
cleanup() {
  as_user nucleus --root "$d/state" --systemd-cgroup delete --force "$id" >/dev/null 2>&1
  as_user nucleus --root "$d/state" --systemd-cgroup delete --force "${id}x" >/dev/null 2>&1
  as_user systemctl --user stop "$unit" "nucleus-${id}x.scope" >/dev/null 2>&1
  rm -rf "$d"
}
trap cleanup EXIT

# set_args DIR ARGS...: process.args of DIR/config.json (as make_bundle sets them).
set_args() {
  _b=$1
  shift
  _args=""
  for _a in "$@"; do
    _args="$_args${_args:+, }$(json_str "$_a")"
  done
  awk -v repl="\"args\": [$_args]," '
    skip { if ($0 ~ /^[ \t]*\]/) { skip = 0 }; next }
    /^    "args": \[/ { open = ($0 !~ /\]/); sub(/"args": \[.*/, repl); print; skip = open; next }
    { print }' "$_b/config.json" >"$_b/config.json.new" && mv "$_b/config.json.new" "$_b/config.json"
  sed -i 's/"terminal": true/"terminal": false/' "$_b/config.json"
}
b=$d/b
make_bundle "$b" true
rm "$b/config.json"
chown -R $user: "$b"
# The rootless spec maps the caller (uid 1000) to root in a user namespace.
as_user sh -c "cd '$b' && nucleus spec --rootless" || fail "spec --rootless" "failed"
set_args "$b" sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /proc/self/cgroup; id -u'
bundle_linux "$b" "\"cgroupsPath\": \"user.slice:nucleus:$id\""
bundle_resources "$b" '"memory": {"limit": 33554432}, "pids": {"limit": 20}'
chown -R $user: "$b"

out=$(in_user_scope $N run --bundle "$b" "$id" 2>&1)
rc=$?
echo "$out"
expect_eq "rootless run --systemd-cgroup (in systemd-run --user --scope)" 0 "$rc"
expect_eq "inside: memory.max" 33554432 "$(echo "$out" | sed -n 1p)"
expect_eq "inside: pids.max" 20 "$(echo "$out" | sed -n 2p)"
expect_eq "inside: own cgroup is the namespace's root" "0::/" "$(echo "$out" | sed -n 3p)"
expect_eq "inside: root in its user namespace" 0 "$(echo "$out" | sed -n 4p)"
expect_eq "unit gone after run" inactive "$(as_user systemctl --user show "$unit" -p ActiveState --value 2>&1)"

# While it runs: the scope is the user's manager's, delegated, with the limits.
set_args "$b" sleep 1000
if as_user $N create --bundle "$b" "$id" >/dev/null 2>"$d/err"; then
  ok "rootless create"
  expect_eq "Delegate (user manager)" yes "$(as_user systemctl --user show "$unit" -p Delegate --value)"
  expect_eq "MemoryMax (user manager)" 33554432 "$(as_user systemctl --user show "$unit" -p MemoryMax --value)"
  cgp=$(as_user systemctl --user show "$unit" -p ControlGroup --value)
  expect_eq "scope below user@$uid.service" "/user.slice/user-$uid.slice/user@$uid.service/user.slice/$unit" "$cgp"
  expect_eq "pids.max of the scope" 20 "$(cat "/sys/fs/cgroup$cgp/pids.max")"
  check "rootless delete --force" as_user $N delete --force "$id"
  expect_eq "unit after delete" inactive "$(as_user systemctl --user show "$unit" -p ActiveState --value 2>&1)"
else
  fail "rootless create" "$(cat "$d/err")"
fi

# A controller the user's manager does not delegate: one clear error, nothing left.
missing=""
for c in cpuset io; do
  grep -qw "$c" "$base/cgroup.controllers" || {
    missing=$c
    break
  }
done
if [ -z "$missing" ]; then
  fail "undelegated controller" "user@$uid.service delegates cpuset and io here; the case needs one that is not"
  finish
fi
case $missing in
  cpuset) res='"cpu": {"cpus": "0"}' ;;
  io) res='"blockIO": {"weight": 100}' ;;
esac
bx=$d/bx
mkdir -p "$bx"
sed "s|\"path\": \"rootfs\"|\"path\": \"$b/rootfs\"|" "$b/config.json" >"$bx/config.json"
sed -i "s|nucleus:$id\"|nucleus:${id}x\"|" "$bx/config.json"
sed -i "s|\"pids\": {\"limit\": 20}|\"pids\": {\"limit\": 20}, $res|" "$bx/config.json"
chown -R $user: "$bx"
if err=$(as_user $N run --bundle "$bx" "${id}x" 2>&1); then
  fail "undelegated $missing" "run succeeded: $err"
else
  echo "$err"
  first=$(echo "$err" | head -1)
  case $first in
    *"$missing controller is not delegated"*) ok "error names $missing: $first" ;;
    *) fail "undelegated $missing" "unclear error: $err" ;;
  esac
  case $err in
    *Delegate=*) ok "hint names Delegate=" ;;
    *) fail "undelegated $missing" "no Delegate= hint: $err" ;;
  esac
fi
expect_eq "no unit left" inactive "$(as_user systemctl --user show "nucleus-${id}x.scope" -p ActiveState --value 2>&1)"
[ -d "$d/state/${id}x" ] && fail "undelegated $missing" "state left behind"
finish
