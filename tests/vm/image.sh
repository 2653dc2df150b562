#!/usr/bin/env bash
# Builds (once) the systemd lane's Debian 12 root filesystem as an ext4 image in the VM cache
# and prints its path. No loop mounts: debootstrap into a directory, then `mkfs.ext4 -d`.
#
#   bash tests/vm/image.sh KERNEL_DIR   # -> $NUCLEUS_VM_CACHE/debian12-<kver>-v<N>.ext4
#
# The image carries the kernel's modules (a subset: filesystems, networking, virtio, block),
# a normal user `tester` (uid 1000, subuid/subgid ranges, lingering), and podman. The
# per-run payload (nucleus, cases, runner) is copied in at boot by the lane's initramfs,
# onto a `-snapshot` disk, so this image stays pristine.
set -euo pipefail
CACHE=${NUCLEUS_VM_CACHE:-/var/cache/nucleus-vm}
KDIR=${1:?usage: image.sh KERNEL_DIR}
kver=$(ls "$KDIR/lib/modules")
# Bump when the recipe below changes: a new name makes every cache rebuild it.
RECIPE=1
img=$CACHE/debian12-$kver-v$RECIPE.ext4
if [ -f "$img" ]; then
  echo "$img"
  exit 0
fi
MIRROR=${NUCLEUS_VM_MIRROR:-http://deb.debian.org/debian}
pkgs=systemd-sysv,dbus,dbus-user-session,libpam-systemd,podman,conmon,crun,netavark,aardvark-dns
pkgs=$pkgs,fuse-overlayfs,uidmap,slirp4netns,catatonit,busybox-static,procps,iproute2,kmod
pkgs=$pkgs,util-linux,ca-certificates

mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/img.XXXXXX")
# debootstrap mounts proc/sys inside the target while configuring and unmounts them when it
# is done; if it dies half-way, make sure nothing stays mounted under the temp dir.
cleanup() {
  local m
  for m in $(awk -v t="$tmp" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
root=$tmp/root
start=$(date +%s)
echo "image.sh: debootstrap bookworm (minbase + podman, systemd) into $root" >&2
debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
  tail -30 "$tmp/debootstrap.log" >&2
  exit 1
}
echo "image.sh: debootstrap took $(($(date +%s) - start)) s" >&2

# Kernel modules: everything a container test could plausibly load, not the hardware zoo.
mkdir -p "$root/lib/modules/$kver/kernel/drivers"
src=$KDIR/lib/modules/$kver
cp -a "$src"/modules.* "$root/lib/modules/$kver/"
for d in arch block crypto fs kernel lib mm net security virt; do
  [ -d "$src/kernel/$d" ] && cp -a "$src/kernel/$d" "$root/lib/modules/$kver/kernel/"
done
for d in block virtio char md net/ethernet/intel/e1000 net/virtio_net.ko net/veth.ko \
  net/macvlan.ko net/ipvlan net/vxlan net/dummy.ko net/tun.ko net/net_failover.ko \
  net/wireguard; do
  [ -e "$src/kernel/drivers/$d" ] || continue
  mkdir -p "$(dirname "$root/lib/modules/$kver/kernel/drivers/$d")"
  cp -a "$src/kernel/drivers/$d" "$root/lib/modules/$kver/kernel/drivers/$d"
done
rm -rf "$root/lib/modules/$kver/kernel/net/wireless" "$root/lib/modules/$kver/kernel/net/bluetooth" \
  "$root/lib/modules/$kver/kernel/net/mac80211"
depmod -b "$root" "$kver"

# System configuration: quiet, fast boot on a serial console.
echo nucleus-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost nucleus-vm\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
: >"$root/etc/machine-id"
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer dpkg-db-backup.timer systemd-timesyncd.service podman-auto-update.timer \
  podman-restart.service podman-clean-transient.service getty@tty1.service \
  serial-getty@ttyS0.service systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
chroot "$root" passwd -d root >/dev/null
# The rootless user: uid 1000, subordinate ranges, lingering (its user manager starts at boot).
chroot "$root" useradd -m -u 1000 -U -s /bin/bash tester
echo 'tester:100000:65536' >"$root/etc/subuid"
echo 'tester:100000:65536' >"$root/etc/subgid"
mkdir -p "$root/var/lib/systemd/linger"
: >"$root/var/lib/systemd/linger/tester"
# podman as root on the disk: overlay storage, no networking, file-based events.
mkdir -p "$root/etc/containers"
cat >"$root/etc/containers/containers.conf" <<'EOF'
[engine]
events_logger = "file"
[network]
default_rootless_network_cmd = "slirp4netns"
EOF
cat >"$root/etc/containers/storage.conf" <<'EOF'
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/usr/share/doc" \
  "$root/usr/share/man" "$root/usr/share/locale"
mkdir -p "$root/usr/share/doc" "$root/usr/share/man"

# Size: contents plus 1 GiB of room for container storage and tests.
used=$(du -sm "$root" | awk '{print $1}')
size=$((used + 1024))
mkfs.ext4 -q -F -L nucleus-vm -d "$root" "$img.new" "${size}M"
mv "$img.new" "$img"
echo "image.sh: image built in $(($(date +%s) - start)) s ($size MiB)" >&2
echo "$img"
