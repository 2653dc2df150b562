#!/usr/bin/env bash
# The VM lane (host side): boots Debian 12's own kernel (6.1, pure cgroup v2) under
# qemu-system-x86_64 (TCG) and runs tests/vm/cases/<lane>/*.sh inside, with the release
# nucleus binary.
#
#   bash tests/vm/run.sh [busybox|systemd|all]    # default all
#
# busybox: an initramfs (busybox, nucleus, the cases) copied onto a tmpfs root; PID 1 is a
#          shell script, cgroup2 only at /sys/fs/cgroup with every controller enabled.
# systemd: a Debian 12 root (debootstrap minbase + systemd, dbus, podman) cached as an ext4
#          image; systemd is PID 1, the cases run from a unit once the system is up.
#
# Environment: NUCLEUS_VM_CACHE (default /var/cache/nucleus-vm: kernel, image),
# VM_CASES="01 02-limits-visible" (run only these cases), VM_VERBOSE=1 (print the whole guest
# console), VM_TIMEOUT (seconds per boot, default 420), VM_KEEP=1 (keep the work dir).
# Exit status: 0 only when every lane printed `vm-lane <lane>: N passed, 0 failed`.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
VM=$REPO/tests/vm
lanes=${1:-all}
case $lanes in
  all) lanes="busybox systemd" ;;
  busybox | systemd) ;;
  *)
    echo "usage: tests/vm/run.sh [busybox|systemd|all]" >&2
    exit 2
    ;;
esac
export NUCLEUS_VM_CACHE=${NUCLEUS_VM_CACHE:-/var/cache/nucleus-vm}
TIMEOUT=${VM_TIMEOUT:-420}
BUSYBOX=${VM_HOST_BUSYBOX:-/bin/busybox}
t0=$(date +%s)
log() { echo "vm: $*" >&2; }

for tool in qemu-system-x86_64 cpio mkfs.ext4 debootstrap modprobe depmod; do
  command -v "$tool" >/dev/null || {
    echo "nucleus vm lane: $tool is missing" >&2
    echo "hint: apt-get install qemu-system-x86 cpio e2fsprogs debootstrap kmod" >&2
    exit 1
  }
done
[ -x "$BUSYBOX" ] || {
  echo "nucleus vm lane: no static busybox at $BUSYBOX" >&2
  echo "hint: apt-get install busybox-static" >&2
  exit 1
}

# 1. The release binary (a static PIE: it runs in any guest as is).
log "cargo build --release"
cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$REPO/$target_dir ;; esac
NUCLEUS=$target_dir/x86_64-unknown-linux-gnu/release/nucleus
[ -x "$NUCLEUS" ] || {
  echo "nucleus vm lane: no binary at $NUCLEUS" >&2
  exit 1
}

# 2. The kernel (cached) and its module index.
KDIR=$(bash "$VM/kernel.sh")
KVER=$(ls "$KDIR/lib/modules")
[ -f "$KDIR/lib/modules/$KVER/modules.dep" ] || depmod -b "$KDIR" "$KVER"

work=$(mktemp -d /tmp/nucleus-vm.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
  fi
  if [ "${VM_KEEP:-0}" = 1 ]; then
    log "work dir kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# add_modules DIR NAME...: copy modules NAME (and what they depend on) into DIR's module tree
# and append their insmod order to DIR/vm/insmod.
add_modules() {
  local dir=$1 m path rel
  shift
  mkdir -p "$dir/lib/modules/$KVER" "$dir/vm"
  cp "$KDIR/lib/modules/$KVER"/modules.{dep,dep.bin,alias,alias.bin,softdep,symbols,symbols.bin,builtin,builtin.bin,builtin.alias.bin,order} \
    "$dir/lib/modules/$KVER/" 2>/dev/null || true
  for m in "$@"; do
    modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}' |
      while read -r path; do
        rel=${path#"$KDIR"/}
        grep -qx "/$rel" "$dir/vm/insmod" 2>/dev/null && continue
        mkdir -p "$dir/$(dirname "$rel")"
        cp "$path" "$dir/$rel"
        echo "/$rel" >>"$dir/vm/insmod"
      done
  done
}

# add_busybox DIR: static busybox at DIR/bin/busybox with one symlink per applet.
add_busybox() {
  local dir=$1 a
  mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin"
  cp "$BUSYBOX" "$dir/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"
  done
}

# add_payload DIR LANE: nucleus, the runner, lib.sh and the lane's cases.
add_payload() {
  local dir=$1 lane=$2
  mkdir -p "$dir/usr/local/bin" "$dir/vm/cases"
  cp "$NUCLEUS" "$dir/usr/local/bin/nucleus"
  cp "$VM/guest/runner.sh" "$dir/vm/runner.sh"
  cp "$VM/lib.sh" "$dir/vm/lib.sh"
  chmod 755 "$dir/vm/runner.sh"
  if compgen -G "$VM/cases/$lane/*.sh" >/dev/null; then
    cp "$VM/cases/$lane/"*.sh "$dir/vm/cases/"
  fi
  : >"$dir/vm/only"
  local c
  for c in ${VM_CASES:-}; do echo "$c" >>"$dir/vm/only"; done
}

# make_cpio DIR OUT: a newc initramfs of DIR (uncompressed: the kernel unpacks it fastest).
make_cpio() {
  (cd "$1" && find . -print0 | cpio --null -o -H newc --quiet) >"$2"
}

# clean_console LOG: LOG.raw without carriage returns and terminal escape sequences.
clean_console() {
  sed -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1b[a-zA-Z]//g' <"$1.raw" >"$1" 2>/dev/null || true
}

# boot LANE LOG QEMU-ARGS...: boot under TCG with a hard timeout; the console goes to LOG.
boot() {
  local lane=$1 console=$2 start rc
  shift 2
  start=$(date +%s)
  : >"$console"
  qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 -nographic \
    -no-reboot -monitor none -serial "file:$console.raw" -display none -nodefaults \
    "$@" </dev/null >"$console.qemu" 2>&1 &
  qemu_pid=$!
  local deadline=$((start + TIMEOUT)) shown=0
  while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$lane: timed out after ${TIMEOUT}s; stopping qemu (pid $qemu_pid)"
      kill "$qemu_pid" 2>/dev/null || true
      break
    fi
    sleep 1
    # Live progress: the runner's PASS/FAIL lines (or everything with VM_VERBOSE=1).
    clean_console "$console"
    if [ "${VM_VERBOSE:-0}" = 1 ]; then
      tail -n +$((shown + 1)) "$console"
    else
      tail -n +$((shown + 1)) "$console" | grep -E '^(PASS|FAIL|vm-lane|vm:)' || true
    fi
    shown=$(wc -l <"$console")
  done
  rc=0
  wait "$qemu_pid" || rc=$?
  qemu_pid=
  clean_console "$console"
  if [ "${VM_VERBOSE:-0}" = 1 ]; then
    tail -n +$((shown + 1)) "$console"
  else
    tail -n +$((shown + 1)) "$console" | grep -E '^(PASS|FAIL|vm-lane|vm:)' || true
  fi
  [ "$rc" = 0 ] || log "$lane: qemu exited with $rc: $(tail -3 "$console.qemu" | tr '\n' ' ')"
  log "$lane: boot + cases took $(($(date +%s) - start)) s"
}

# verdict LANE LOG: 0 when the closing line says 0 failed.
verdict() {
  local lane=$1 console=$2 line
  line=$(grep -E "^vm-lane $lane: [0-9]+ passed, [0-9]+ failed" "$console" | tail -1 || true)
  if [ -z "$line" ]; then
    echo "vm-lane $lane: no closing line (the guest crashed, hung or timed out); console tail:" >&2
    tail -40 "$console" | sed 's/^/    | /' >&2
    return 1
  fi
  if ! echo "$line" | grep -q ' 0 failed$'; then
    echo "vm-lane $lane: failures; console tail:" >&2
    tail -40 "$console" | sed 's/^/    | /' >&2
    return 1
  fi
  return 0
}

lane_busybox() {
  local root=$work/busybox-root
  mkdir -p "$root"/{proc,sys,dev,tmp,etc,root,run}
  add_busybox "$root"
  add_payload "$root" busybox
  cp "$VM/guest/busybox-init.sh" "$root/init"
  cp "$VM/guest/busybox-init2.sh" "$root/vm/init2"
  chmod 755 "$root/init" "$root/vm/init2"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # Modules the cases may need (more can be loaded with modprobe if listed here).
  add_modules "$root" overlay veth dummy fuse
  mv "$root/vm/insmod" "$root/vm/modules.order"
  sed 's|.*/||; s|\.ko$||' "$root/vm/modules.order" >"$root/vm/modules"
  make_cpio "$root" "$work/busybox.cpio"
  log "busybox: initramfs $(($(stat -c %s "$work/busybox.cpio") / 1024 / 1024)) MiB"
  boot busybox "$work/busybox.log" -kernel "$KDIR/vmlinuz" -initrd "$work/busybox.cpio" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3"
  verdict busybox "$work/busybox.log"
}

lane_systemd() {
  local t img root=$work/systemd-initrd
  t=$(date +%s)
  img=$(bash "$VM/image.sh" "$KDIR")
  log "systemd: image ready in $(($(date +%s) - t)) s: $img"
  mkdir -p "$root"/{proc,sys,dev,mnt,etc} "$root/payload"
  add_busybox "$root"
  add_modules "$root" virtio_pci virtio_blk ext4
  cp "$VM/guest/systemd-initrd.sh" "$root/init"
  chmod 755 "$root/init"
  # The per-run payload, copied onto the (snapshot) disk by the initramfs.
  local p=$root/payload
  add_payload "$p" systemd
  mkdir -p "$p/etc/systemd/system/multi-user.target.wants"
  cp "$VM/guest/nucleus-vm.service" "$p/etc/systemd/system/"
  ln -s ../nucleus-vm.service "$p/etc/systemd/system/multi-user.target.wants/nucleus-vm.service"
  # A fixed machine id: no first-boot logic on a snapshot disk.
  echo 6e75636c65757376a6c616e6530303031 | cut -c1-32 >"$p/etc/machine-id"
  make_cpio "$root" "$work/systemd.cpio"
  log "systemd: initramfs $(($(stat -c %s "$work/systemd.cpio") / 1024 / 1024)) MiB"
  boot systemd "$work/systemd.log" -kernel "$KDIR/vmlinuz" -initrd "$work/systemd.cpio" \
    -drive "file=$img,if=virtio,format=raw,snapshot=on" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 systemd.show_status=0 systemd.firstboot=off rw"
  verdict systemd "$work/systemd.log"
}

status=0
closing=()
for lane in $lanes; do
  if ! "lane_$lane"; then status=1; fi
  closing+=("$(grep -hE "^vm-lane $lane: " "$work/$lane.log" 2>/dev/null | tail -1 || true)")
done
echo "vm lane: total $(($(date +%s) - t0)) s"
for line in "${closing[@]}"; do
  [ -n "$line" ] && echo "$line"
done
exit $status
