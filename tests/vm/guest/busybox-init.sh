#!/bin/sh
# Busybox lane, stage 1 (/init of the initramfs). pivot_root cannot leave an initramfs, and
# nucleus pivots into its containers' roots from wherever it runs, so first copy the whole
# tree onto a tmpfs and switch_root there (stage 2: /vm/init2).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mkdir -p /newroot
mount -t tmpfs -o mode=0755 newroot /newroot
for d in /*; do
  case $d in /proc|/newroot|/sys|/dev) continue ;; esac
  cp -a "$d" /newroot/
done
mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
umount /proc
exec switch_root /newroot /vm/init2
