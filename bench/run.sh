#!/usr/bin/env bash
# nucleus against runc and crun, and the kernel floor, in one run.
#
#   bash bench/run.sh            # full run (a few minutes)
#   RUNS=20 bash bench/run.sh    # fewer samples
#
# Needs root. Installs runc, crun, hyperfine, busybox-static, time from Debian if missing,
# builds nucleus (release), makes a busybox bundle in a temp dir, and measures with
# hyperfine inside a private mount namespace where /sys/fs/cgroup/unified is unmounted
# (crun refuses this host's hybrid layout otherwise; every runtime runs the same way).
# Prints a table of medians with each runtime's ratio to crun and to the floor, and keeps
# hyperfine's JSON in $OUT (default: a temp dir, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "bench/run.sh: needs root (containers with cgroups); run it with sudo" >&2
  exit 1
fi
need=()
for p in runc crun hyperfine; do command -v "$p" >/dev/null 2>&1 || need+=("$p"); done
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet
NUCLEUS=$(pwd)/target/x86_64-unknown-linux-gnu/release/nucleus   # .cargo/config.toml: static PIE
RUNS=${RUNS:-100}
WORK=$(mktemp -d /tmp/nucleus-bench.XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"

# The bundle: busybox, /bin/true, and runc's default config running /bin/true.
B=$WORK/bundle
mkdir -p "$B/rootfs/bin"
cp "$(command -v busybox)" "$B/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$B/rootfs/bin/$a"; done
(cd "$B" && runc spec)
python3 - "$B/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
# runc's template lists ambient capabilities without inheritable ones, which the kernel
# cannot raise (runc and crun ignore the failure, nucleus warns): leave them out.
c["process"]["capabilities"].pop("ambient", None)
json.dump(c, open(p, "w"), indent=2)
EOF

cat > "$WORK/inner.sh" <<EOF
#!/usr/bin/env bash
# Runs inside the private mount namespace.
set -euo pipefail
umount /sys/fs/cgroup/unified 2>/dev/null || true
B=$B; OUT=$OUT; RUNS=$RUNS; WORK=$WORK
declare -A RT=([nucleus]=$NUCLEUS [runc]=runc [crun]=crun)
hf() { hyperfine -N --style none --warmup 5 "\$@" >/dev/null; }
for name in nucleus crun runc; do
  bin=\${RT[\$name]}
  root=\$WORK/root-\$name
  mkdir -p "\$root"
  r="\$bin --root \$root"
  # run (foreground; the container is deleted when /bin/true exits)
  hf --runs "\$RUNS" --export-json "\$OUT/\$name-run.json" "\$r run -b \$B b1"
  # create, start and delete, each alone
  hf --runs "\$RUNS" --export-json "\$OUT/\$name-create.json" \\
     --prepare "sh -c '\$r delete -f b2 >/dev/null 2>&1; true'" "\$r create -b \$B b2"
  hf --runs "\$RUNS" --export-json "\$OUT/\$name-start.json" \\
     --prepare "sh -c '\$r delete -f b2 >/dev/null 2>&1; \$r create -b \$B b2'" "\$r start b2"
  hf --runs "\$RUNS" --export-json "\$OUT/\$name-delete.json" \\
     --prepare "sh -c '\$r delete -f b2 >/dev/null 2>&1; \$r create -b \$B b2 && \$r start b2 && while \$r state b2 | grep -q running; do :; done'" \\
     "\$r delete b2"
  \$r delete -f b2 >/dev/null 2>&1 || true
  # 50 in a row, 8 at once
  hf --runs 5 --export-json "\$OUT/\$name-serial50.json" \\
     "sh -c 'for i in \\\$(seq 50); do \$r run -b \$B s\\\$i; done'"
  hf --runs 10 --export-json "\$OUT/\$name-parallel8.json" \\
     "sh -c 'for i in 1 2 3 4 5 6 7 8; do \$r run -b \$B p\\\$i & done; wait'"
  # peak RSS: GNU time's maximum resident set of the runtime process (wait4 rusage,
  # which also covers the descendants it waited for), 20 runs
  for i in \$(seq 20); do
    /usr/bin/time -f %M -a -o "\$OUT/\$name-rss.txt" \$r run -b \$B m1 >/dev/null
  done
done
# the kernel floor: the same namespaces, chroot, exec
hf --runs "\$RUNS" --export-json "\$OUT/floor-run.json" \\
   "unshare --mount --uts --ipc --net --pid --fork chroot \$B/rootfs /bin/true"
EOF
chmod +x "$WORK/inner.sh"
unshare --mount --propagation private "$WORK/inner.sh"

python3 - "$OUT" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def med(name, what):
    try:
        r = json.load(open(f"{out}/{name}-{what}.json"))["results"][0]
        return statistics.median(r["times"]) * 1000
    except FileNotFoundError:
        return None
rss = {}
names = ["nucleus", "crun", "runc"]
for n in names:
    vals = [int(v) for v in open(f"{out}/{n}-rss.txt").read().split()]
    rss[n] = statistics.median(vals) / 1024
rows = [("run /bin/true", "run"), ("create", "create"), ("start", "start"),
        ("delete", "delete"), ("create+start+delete", None),
        ("50 in a row", "serial50"), ("8 at once", "parallel8")]
floor = med("floor", "run")
table = {}
for n in names:
    for label, what in rows:
        if what is None:
            parts = [table[(n, w)] for w in ("create", "start", "delete")]
            table[(n, label)] = sum(parts) if None not in parts else None
        else:
            table[(n, what)] = med(n, what)
def val(n, label, what):
    return table[(n, what if what else label)]
print(f"\nmedians in ms ({out}); kernel floor (unshare + chroot + exec): {floor:.2f} ms\n")
head = f"{'':22}" + "".join(f"{n:>10}" for n in names) + "   nucleus/crun  nucleus/floor  crun/floor  runc/floor"
print(head)
for label, what in rows:
    v = [val(n, label, what) for n in names]
    cells = "".join(f"{x:10.2f}" if x is not None else f"{'-':>10}" for x in v)
    ratio = lambda a, b: f"{a / b:12.2f}x" if a and b else f"{'-':>13}"
    extra = ""
    if what in ("run",):
        extra = ratio(v[0], v[1]) + ratio(v[0], floor) + ratio(v[1], floor) + ratio(v[2], floor)
    else:
        extra = ratio(v[0], v[1])
    print(f"{label:22}{cells}  {extra}")
print(f"{'peak RSS (MiB)':22}" + "".join(f"{rss[n]:10.2f}" for n in names) + f"  {rss['nucleus'] / rss['crun']:12.2f}x")
EOF
echo "results: $OUT"
