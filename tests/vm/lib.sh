# /vm/lib.sh: helpers for the VM lane's guest cases (POSIX sh: busybox sh in the busybox
# lane, bash/dash in the systemd lane). A case does `. /vm/lib.sh`, checks things, and exits 0
# (pass) or non-zero (fail). There is no skip: a case passes or fails.
#
# The runner gives each case a fresh $TMPDIR (removed afterwards), `nucleus` on PATH, and
# $VM_LANE (busybox or systemd). Everything here works with busybox alone (no jq, no python).

VM_LANE=${VM_LANE:-unknown}
: "${TMPDIR:=/tmp}"
VM_FAILED=0

# ok NAME: report one passed check (goes to the case's log; the runner shows it on failure).
ok() {
  echo "ok: $* [at $(cut -d' ' -f1 /proc/uptime)s]"
}

# fail NAME WHY...: report one failed check; the case's exit status becomes 1. Continue
# checking (to see every problem at once) or `exit 1` right away, as the case prefers.
fail() {
  _n=$1
  shift
  echo "FAIL: $_n: $*"
  VM_FAILED=1
  # The runner shows the first FAIL line as the case's reason.
  [ -n "${VM_REASON_FILE:-}" ] && [ ! -s "$VM_REASON_FILE" ] && echo "$_n: $*" >"$VM_REASON_FILE"
  return 0
}

# finish: exit with the case's status (1 if any `fail` was called). End every case with it.
finish() {
  exit "$VM_FAILED"
}

# check NAME CMD...: run CMD; ok NAME if it succeeds, fail NAME with its output otherwise.
check() {
  _n=$1
  shift
  if _out=$("$@" 2>&1); then
    ok "$_n"
  else
    fail "$_n" "\`$*\` failed ($?): $(echo "$_out" | tail -3 | tr '\n' ' ')"
  fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [ "$2" = "$3" ]; then
    ok "$1 = $2"
  else
    fail "$1" "expected '$2', got '$3'"
  fi
}

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds (0) or SECONDS pass (1).
wait_for() {
  _t=$(($1 * 10))
  shift
  while [ "$_t" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
    _t=$((_t - 1))
  done
  return 1
}

# nucleus_root: a private state directory for `nucleus --root` (inside the case's TMPDIR).
nucleus_root() {
  mkdir -p "$TMPDIR/nucleus-state"
  echo "$TMPDIR/nucleus-state"
}

# nuc ARGS...: nucleus with the private state directory.
nuc() {
  nucleus --root "$(nucleus_root)" "$@"
}

# make_rootfs DIR: a busybox tree (static busybox + one symlink per applet, /etc/passwd).
make_rootfs() {
  _d=$1
  mkdir -p "$_d"
  # run.sh ships a ready tree: one copy instead of a fork per applet (slow under TCG).
  if [ -d /vm/rootfs ]; then
    cp -a /vm/rootfs/. "$_d/"
    return
  fi
  mkdir -p "$_d/bin" "$_d/sbin" "$_d/usr/bin" "$_d/usr/sbin" "$_d/etc" "$_d/proc" "$_d/sys" \
    "$_d/dev" "$_d/tmp" "$_d/root" "$_d/home" "$_d/var" "$_d/run"
  chmod 1777 "$_d/tmp"
  cp "$(vm_busybox)" "$_d/bin/busybox"
  for _a in $("$_d/bin/busybox" --list); do
    [ -e "$_d/bin/$_a" ] || ln -s busybox "$_d/bin/$_a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$_d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$_d/etc/group"
}

# vm_busybox: path of a static busybox in this guest.
vm_busybox() {
  for _b in /bin/busybox /usr/bin/busybox /vm/busybox; do
    [ -x "$_b" ] && {
      echo "$_b"
      return 0
    }
  done
  echo "lib.sh: no busybox" >&2
  return 1
}

# json_str S: S as a JSON string literal.
json_str() {
  printf '"'
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' |
    awk '{ printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }'
  printf '"'
}

# make_bundle DIR [ARGS...]: an OCI bundle (config.json from `nucleus spec`, rootfs = busybox
# tree) whose process runs ARGS (default: true), without a terminal. Edit it further with
# bundle_insert / bundle_resources / bundle_linux / bundle_process / bundle_set.
make_bundle() {
  _b=$1
  shift
  [ $# -gt 0 ] || set -- true
  mkdir -p "$_b"
  make_rootfs "$_b/rootfs"
  (cd "$_b" && nucleus spec) || return 1
  _args=""
  for _a in "$@"; do
    _args="$_args${_args:+, }$(json_str "$_a")"
  done
  # Replace the (multi-line) process.args array with ARGS on one line.
  # (awk -v would interpret the backslashes of JSON escapes: pass values through ENVIRON.)
  VM_REPL="\"args\": [$_args]," awk '
    BEGIN { repl = ENVIRON["VM_REPL"] }
    skip { if ($0 ~ /^[ \t]*\]/) { skip = 0 }; next }
    /^    "args": \[/ { print "    " repl; skip = ($0 !~ /\]/); next }
    { print }' "$_b/config.json" >"$_b/config.json.new" &&
    mv "$_b/config.json.new" "$_b/config.json"
  # "args": [ "sh" ] spans three lines in nucleus' output: the awk above printed the new
  # array and skipped the old items and the closing bracket (which carried the comma).
  sed -i 's/"terminal": true/"terminal": false/' "$_b/config.json"
}

# bundle_insert DIR LINE TEXT: insert TEXT (JSON members, without a trailing comma) right
# after the first line of DIR/config.json whose trimmed content is LINE (e.g. '"linux": {').
bundle_insert() {
  VM_LINE=$2 VM_TEXT=$3 awk '
    BEGIN { line = ENVIRON["VM_LINE"]; text = ENVIRON["VM_TEXT"] }
    { t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t) }
    !done && t == line {
      print
      # Objects opened on this line that are empty (next line closes) must not get a comma.
      getline nxt
      n = nxt; sub(/^[ \t]+/, "", n)
      if (n ~ /^[}\]]/) print text; else print text ","
      print nxt
      done = 1
      next
    }
    { print }
    END { if (!done) exit 3 }' "$1/config.json" >"$1/config.json.new" || {
    echo "bundle_insert: no line '$2' in $1/config.json" >&2
    rm -f "$1/config.json.new"
    return 1
  }
  mv "$1/config.json.new" "$1/config.json"
}

# bundle_resources DIR 'JSON members': add members to linux.resources
# (e.g. '"memory": {"limit": 33554432}, "pids": {"limit": 20}').
bundle_resources() {
  bundle_insert "$1" '"resources": {' "$2"
}

# bundle_linux DIR 'JSON members': add members to linux (e.g. '"cgroupsPath": "/t1"').
bundle_linux() {
  bundle_insert "$1" '"linux": {' "$2"
}

# bundle_process DIR 'JSON members': add members to process.
bundle_process() {
  bundle_insert "$1" '"process": {' "$2"
}

# bundle_set DIR SED-EXPR: a sed edit of config.json (for simple one-line values).
bundle_set() {
  sed -i "$2" "$1/config.json"
}

# cgroup_of PID: the process' cgroup v2 path (relative to /sys/fs/cgroup).
cgroup_of() {
  sed -n 's/^0:://p' "/proc/$1/cgroup"
}

# make_image_tar FILE: a tar of a busybox root (for `podman import FILE NAME`).
make_image_tar() {
  _t=$TMPDIR/image-tree.$$
  make_rootfs "$_t"
  tar -C "$_t" -cf "$1" . && rm -rf "$_t"
}

# podman_busybox [NAME]: import the busybox image into podman once (default name
# localhost/vm-busybox:latest) and print its name.
podman_busybox() {
  _name=${1:-localhost/vm-busybox:latest}
  if ! podman image exists "$_name" 2>/dev/null; then
    if [ -f /vm/busybox.tar ]; then
      podman import -q /vm/busybox.tar "$_name" >/dev/null || return 1
    else
      make_image_tar "$TMPDIR/busybox.tar" && podman import -q "$TMPDIR/busybox.tar" "$_name" >/dev/null || return 1
    fi
  fi
  echo "$_name"
}

# load_module NAME...: load kernel modules (modprobe from the guest's module tree).
load_module() {
  for _m in "$@"; do
    modprobe "$_m" 2>/dev/null || grep -q "^$_m " /proc/modules || return 1
  done
}

# qcheck NAME CMD...: as `check`, with the output in a file: a container started by CMD
# keeps a captured stdout open, and `check` would wait for it.
qcheck() {
  _n=$1
  shift
  if "$@" >"$TMPDIR/qcheck.out" 2>&1 </dev/null; then
    ok "$_n"
  else
    fail "$_n" "\`$*\` failed ($?): $(tail -3 "$TMPDIR/qcheck.out" | tr '\n' ' ')"
  fi
}

# state_field ID FIELD: a string or number field of `nucleus state ID`.
state_field() {
  nuc state "$1" 2>/dev/null | sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1
}
