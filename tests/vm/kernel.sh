#!/usr/bin/env bash
# Fetches Debian's own kernel (the package linux-image-amd64 depends on) once and unpacks
# it into the VM cache. Prints the directory holding `vmlinuz` and `lib/modules/<ver>/`.
#
#   bash tests/vm/kernel.sh            # -> /var/cache/nucleus-vm/kernel-<pkg-version>
#
# The cache is $NUCLEUS_VM_CACHE (default /var/cache/nucleus-vm). Needs apt (root).
set -euo pipefail
CACHE=${NUCLEUS_VM_CACHE:-/var/cache/nucleus-vm}
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "kernel.sh: no linux-image package behind linux-image-amd64" >&2; exit 1; }
ver=$(apt-cache show "$pkg" | awk '/^Version:/ {print $2; exit}')
dir=$CACHE/kernel-$pkg-$ver
if [ ! -f "$dir/vmlinuz" ]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"   # apt downloads as _apt
  (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  kver=${pkg#linux-image-}
  mkdir -p "$dir.new/lib"
  cp "$tmp/x/boot/vmlinuz-$kver" "$dir.new/vmlinuz"
  cp "$tmp/x/boot/config-$kver" "$dir.new/config"
  mv "$tmp/x/lib/modules" "$dir.new/lib/modules"
  depmod -b "$dir.new" "$kver" 2>/dev/null || true
  rm -rf "$dir"
  mv "$dir.new" "$dir"
fi
echo "$dir"
