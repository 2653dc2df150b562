#!/bin/sh
# Busybox lane, stage 2 (PID 1 on a tmpfs root): a pure cgroup v2 host. Mount proc, sysfs,
# devtmpfs and cgroup2 (only at /sys/fs/cgroup, no v1 hierarchy), enable every controller for
# the children of the root cgroup, load the modules the cases need, run the cases, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue /run /tmp /root
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=0755 run /run
chmod 1777 /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t tmpfs -o mode=0755 tmpfs /sys/fs/bpf 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "vm: cannot enable controller $c"
done
hostname nucleus-vm
ip link set lo up 2>/dev/null
# Modules (and their dependencies) in load order, resolved on the host by run.sh.
for m in $(cat /vm/modules.order 2>/dev/null); do
  insmod "$m" 2>/dev/null || grep -q "^$(basename "$m" .ko | tr - _) " /proc/modules ||
    echo "vm: cannot load module $m"
done
echo "vm: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
/vm/runner.sh busybox
sync
echo o >/proc/sysrq-trigger
sleep 10
