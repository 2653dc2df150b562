#!/bin/sh
# The busybox lane's limits-visible case, on a systemd host (systemd owns the cgroup tree).
exec sh /vm/busybox-cases/02-limits-visible.sh
