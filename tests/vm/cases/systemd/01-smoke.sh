#!/bin/sh
# Smoke (systemd lane): systemd is PID 1 on a v2-only host, `nucleus run -- true` works, and
# rootful Podman runs `true` in the imported busybox image with --runtime nucleus.
. /vm/lib.sh

expect_eq "PID 1" systemd "$(cat /proc/1/comm)"
# The runner's own unit is the last job of the boot, so the system is still "starting".
expect_eq "multi-user.target" active "$(systemctl is-active multi-user.target 2>&1)"
failed=$(systemctl --failed --no-legend --plain 2>&1)
expect_eq "failed units" "" "$failed"
systemd-analyze 2>&1
expect_eq "cgroup v1 mounts" 0 "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"
expect_eq "cgroup2 at /sys/fs/cgroup" cgroup2 "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null | sed 's/cgroup2fs/cgroup2/')"
check "lingering user manager" wait_for 60 systemctl is-active user@1000.service

check "nucleus run -- true" nuc run -- true
out=$(nuc run -- cat /proc/self/cgroup 2>&1)
expect_eq "/proc/self/cgroup inside" "0::/" "$out"

img=$(podman_busybox) || fail "podman import" "cannot import the busybox image"
echo "image: $img"
out=$(podman --runtime /usr/local/bin/nucleus run --rm --network none "$img" true 2>&1)
rc=$?
echo "$out"
expect_eq "podman --runtime nucleus run true" 0 "$rc"
out=$(podman --runtime /usr/local/bin/nucleus run --rm --network none "$img" sh -c 'echo hi; exit 5' 2>&1)
rc=$?
expect_eq "podman exit code" 5 "$rc"
expect_eq "podman stdout" hi "$out"
finish
