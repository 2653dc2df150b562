#!/bin/sh
# systemd lane initramfs: load the disk's modules, mount the (snapshot) Debian 12 disk, copy
# the per-run payload (nucleus, runner, cases, the runner's unit) onto it and hand over to
# systemd.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /vm/insmod); do
  insmod "$m" || echo "vm: cannot load module $m"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if ! mount -t ext4 -o rw /dev/vda /mnt; then
  echo "vm: cannot mount /dev/vda; vm-lane systemd: 0 passed, 1 failed"
  echo o >/proc/sysrq-trigger
  sleep 10
fi
cp -a /payload/. /mnt/
umount /proc /sys
umount /dev
exec switch_root /mnt /sbin/init
