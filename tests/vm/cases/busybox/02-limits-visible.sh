#!/bin/sh
# Issue #10's main bug: on a cgroup v2-only host the program must SEE its limits. For
# `nucleus run --memory/--pids/--cpus` and for an OCI bundle with linux.resources, inside the
# container: /proc/self/cgroup is `0::/` (cgroup namespace), /sys/fs/cgroup is a read-only
# cgroup2 mount of the container's own cgroup, every configured file reads back its value,
# and writing them fails. Also run by the systemd lane (same file).
. /vm/lib.sh

# What the container reports: key=value lines (spaces in values become _).
probe='
echo "cgroup=$(cat /proc/self/cgroup)"
echo "mount=$(awk '\''$2 == "/sys/fs/cgroup" {print $3 "," $4}'\'' /proc/mounts | tail -1)"
for f in memory.max memory.high memory.low memory.swap.max cpu.max cpu.weight cpuset.cpus \
  cpuset.mems io.weight io.max pids.max hugetlb.2MB.max cgroup.controllers; do
  if [ -e "/sys/fs/cgroup/$f" ]; then
    echo "$f=$(head -1 "/sys/fs/cgroup/$f" | tr " " _)"
  else
    echo "$f=MISSING"
  fi
done
for f in memory.max pids.max cpu.max; do
  if echo 1 >"/sys/fs/cgroup/$f" 2>/dev/null; then echo "write.$f=allowed"; else echo "write.$f=denied"; fi
done
if mkdir /sys/fs/cgroup/escape 2>/dev/null; then echo "mkdir=allowed"; else echo "mkdir=denied"; fi
'
val() {
  echo "$out" | sed -n "s/^$1=//p" | head -1
}
# Leftovers: the cgroups directly under the root before and after.
cgroups_before=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d | sort)

common_checks() {
  form=$1
  expect_eq "$form: /proc/self/cgroup" "0::/" "$(val cgroup)"
  case $(val mount) in
    cgroup2,ro,*) ok "$form: /sys/fs/cgroup is a read-only cgroup2 mount" ;;
    *) fail "$form: mount" "/sys/fs/cgroup is '$(val mount)', want cgroup2,ro" ;;
  esac
  for f in memory.max pids.max cpu.max; do
    expect_eq "$form: writing $f" denied "$(val "write.$f")"
  done
  expect_eq "$form: mkdir in /sys/fs/cgroup" denied "$(val mkdir)"
}

# 1. The one-shot CLI form.
out=$(nuc run --memory 32m --pids 20 --cpus 0.5 -- sh -c "$probe" 2>&1)
rc=$?
echo "--- run --memory 32m --pids 20 --cpus 0.5:"
echo "$out"
expect_eq "run: exit" 0 "$rc"
common_checks run
expect_eq "run: memory.max" 33554432 "$(val memory.max)"
expect_eq "run: pids.max" 20 "$(val pids.max)"
expect_eq "run: cpu.max" "50000_100000" "$(val cpu.max)"
# No swap on top of the limit unless asked (as runc/crun do for --memory alone).
expect_eq "run: memory.swap.max" 0 "$(val memory.swap.max)"

# 2. The OCI form, every v2 setting at once.
b=$TMPDIR/bundle
make_bundle "$b" sh -c "$probe" || fail bundle "make_bundle failed"
shares=512
weight=$((1 + (shares - 2) * 9999 / 262142))
blkio=500
ioweight=$((1 + (blkio - 10) * 9999 / 990))
hugetlb=""
[ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers &&
  [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] &&
  hugetlb=', "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]'
# io.max on the first virtio disk (/dev/vda: a scratch disk in the busybox lane, the root
# disk in the systemd lane).
iomax=""
if [ -r /sys/block/vda/dev ]; then
  majmin=$(cat /sys/block/vda/dev)
  iomax=", \"throttleReadBpsDevice\": [{\"major\": ${majmin%%:*}, \"minor\": ${majmin#*:}, \"rate\": 1048576}]"
else
  fail "io.max" "no /dev/vda in this guest (run.sh gives every lane a virtio disk)"
fi
bundle_resources "$b" "\"memory\": {\"limit\": 67108864, \"reservation\": 16777216, \"swap\": 100663296},
  \"cpu\": {\"shares\": $shares, \"quota\": 25000, \"period\": 100000, \"cpus\": \"1\", \"mems\": \"0\"},
  \"pids\": {\"limit\": 33},
  \"blockIO\": {\"weight\": $blkio$iomax},
  \"unified\": {\"memory.high\": \"50331648\"}$hugetlb" || fail bundle "cannot edit config.json"
out=$(nuc run -b "$b" limits-oci 2>&1)
rc=$?
echo "--- OCI bundle:"
echo "$out"
expect_eq "oci: exit" 0 "$rc"
common_checks oci
expect_eq "oci: memory.max" 67108864 "$(val memory.max)"
expect_eq "oci: memory.low" 16777216 "$(val memory.low)"
expect_eq "oci: memory.swap.max (swap - limit)" 33554432 "$(val memory.swap.max)"
expect_eq "oci: memory.high (unified)" 50331648 "$(val memory.high)"
expect_eq "oci: cpu.max" "25000_100000" "$(val cpu.max)"
expect_eq "oci: cpu.weight (shares $shares, runc's conversion)" "$weight" "$(val cpu.weight)"
expect_eq "oci: cpuset.cpus" 1 "$(val cpuset.cpus)"
expect_eq "oci: cpuset.mems" 0 "$(val cpuset.mems)"
expect_eq "oci: io.weight (blkio $blkio)" "default_$ioweight" "$(val io.weight)"
[ -n "$iomax" ] && expect_eq "oci: io.max" "${majmin}_rbps=1048576_wbps=max_riops=max_wiops=max" "$(val io.max)"
expect_eq "oci: pids.max" 33 "$(val pids.max)"
if [ -n "$hugetlb" ]; then
  expect_eq "oci: hugetlb.2MB.max" 4194304 "$(val hugetlb.2MB.max)"
fi
nuc delete -f limits-oci >/dev/null 2>&1

# Nothing left behind in the host's cgroup tree.
cgroups_after=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d | sort)
expect_eq "cgroups left behind" "" "$(echo "$cgroups_after" | grep -vxF "$cgroups_before" | grep -v '^$' | tr '\n' ' ')"
finish
