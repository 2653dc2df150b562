#!/bin/sh
# Device rules on a pure cgroup v2 host: the eBPF device filter nucleus attaches to an OCI
# container's cgroup (BPF_PROG_TYPE_CGROUP_DEVICE). The default allow-list works (/dev/null,
# /dev/zero); opening a block device the rules do not list fails with EPERM although the
# same node opens outside; linux.resources.devices allowing that one device lets it open;
# `nucleus update` changes the rules of a running container.
#
# `nucleus run` has no device cgroup on either version (as on v1): its /dev and /tmp are
# nodev and it keeps no CAP_MKNOD, so a block device cannot be made or opened there either.
. /vm/lib.sh

# A real block device: loop0 (the lane loads the loop module; no backing file is needed to
# open it, reads return nothing).
[ -b /dev/loop0 ] || load_module loop
wait_for 5 test -e /sys/block/loop0/dev || fail "loop0" "no /sys/block/loop0 (loop module)"
dev=$(cat /sys/block/loop0/dev)
ma=${dev%:*}
mi=${dev#*:}
# Control: outside any container the node opens (so a refusal below is the filter's).
mknod "$TMPDIR/blk" b "$ma" "$mi"
check "the guest itself opens b $ma:$mi" dd if="$TMPDIR/blk" of=/dev/null count=1

# --- nucleus run ---
out=$(nuc run -- sh -c 'echo x >/dev/null && head -c 4 /dev/zero | wc -c' 2>&1)
expect_eq "run: /dev/null and /dev/zero" 4 "$out"
nuc run -- mknod /dev/blk b "$ma" "$mi" >/dev/null 2>&1 &&
  fail "run: mknod" "a block device was made without CAP_MKNOD" || ok "run: mknod refused"
nuc run --caps-retain mknod -- sh -c "mknod /dev/blk b $ma $mi && dd if=/dev/blk of=/dev/null count=1" \
  >/dev/null 2>&1 && fail "run: open" "a block device opened inside nucleus run" ||
  ok "run: block device cannot be opened"

# --- OCI: the default rules ---
# The probe is a script in the root (make_bundle's awk would read '&' in an argument).
probe() {
  cat >"$1/rootfs/probe.sh" <<EOF
echo x >/dev/null && head -c 4 /dev/zero | wc -c
mknod /dev/blk b $ma $mi && echo mknod-ok
dd if=/dev/blk of=/dev/null count=1 2>&1 | head -1
dd if=/dev/blk of=/dev/null count=1 2>/dev/null && echo open-ok
EOF
}
# The node is made in the container's /dev (its own tmpfs, not nodev; the root is nodev).
make_bundle "$TMPDIR/def" sh /probe.sh
probe "$TMPDIR/def"
out=$(nuc run -b "$TMPDIR/def" dev-default 2>&1)
echo "$out"
nuc delete -f dev-default >/dev/null 2>&1
expect_eq "oci: /dev/zero read" 4 "$(echo "$out" | head -1)"
echo "$out" | grep -qx mknod-ok && ok "oci: mknod allowed (b *:* m, as runc)" ||
  fail "oci: mknod" "mknod was refused: $out"
echo "$out" | grep -q "Operation not permitted" && ok "oci: open of b $ma:$mi is EPERM" ||
  fail "oci: open" "no EPERM opening the block device: $out"
echo "$out" | grep -qx open-ok && fail "oci: open" "the block device opened: $out"

# --- OCI: linux.resources.devices allows the one device ---
make_bundle "$TMPDIR/one" sh /probe.sh
probe "$TMPDIR/one"
bundle_set "$TMPDIR/one" "s/\"allow\": false/\"allow\": false}, {\"allow\": true, \"type\": \"b\", \"major\": $ma, \"minor\": $mi, \"access\": \"rwm\"/"
out=$(nuc run -b "$TMPDIR/one" dev-one 2>&1)
echo "$out"
nuc delete -f dev-one >/dev/null 2>&1
echo "$out" | grep -qx open-ok && ok "oci: the allowed device opens" ||
  fail "oci: allowed device" "it did not open: $out"
expect_eq "oci+allow: /dev/zero read" 4 "$(echo "$out" | head -1)"

# --- update: a running container's rules change ---
make_bundle "$TMPDIR/upd" sleep 300
# A detached container keeps its stdio: to a file, or $(...) would wait for it.
nuc run -d -b "$TMPDIR/upd" dev-upd >"$TMPDIR/upd.log" 2>&1 || fail "update: run -d" "$(cat "$TMPDIR/upd.log")"
check "update: mknod" nuc exec dev-upd mknod /dev/blk b "$ma" "$mi"
out=$(nuc exec dev-upd dd if=/dev/blk of=/dev/null count=1 2>&1)
echo "$out" | grep -q "Operation not permitted" && ok "update: EPERM before" ||
  fail "update: before" "opening the block device did not fail with EPERM: $out"
printf '{"devices": [{"allow": true, "type": "b", "major": %s, "minor": %s, "access": "r"}]}' "$ma" "$mi" >"$TMPDIR/allow.json"
check "update: allow b $ma:$mi r" nuc update --resources "$TMPDIR/allow.json" dev-upd
check "update: the device opens" nuc exec dev-upd dd if=/dev/blk of=/dev/null count=1
printf '{"devices": [{"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}' >"$TMPDIR/deny.json"
check "update: deny c 1:3" nuc update --resources "$TMPDIR/deny.json" dev-upd
out=$(nuc exec dev-upd sh -c 'echo x >/dev/null' 2>&1)
echo "$out" | grep -q "Operation not permitted" && ok "update: /dev/null EPERM" ||
  fail "update: deny" "/dev/null did not fail with EPERM after denying c 1:3: $out"
check "update: /dev/zero still allowed" nuc exec dev-upd head -c 1 /dev/zero
nuc delete -f dev-upd >/dev/null 2>&1
[ -z "$(nuc list -q 2>/dev/null)" ] && ok "nothing left" || fail "list" "$(nuc list 2>&1)"
finish
