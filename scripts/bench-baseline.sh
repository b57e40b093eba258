#!/usr/bin/env bash
# Interpreter speed baseline: times `sigma run` (interpreter) against `lua5.4` on the same
# algorithms, side by side in one hyperfine run, checks that outputs match, and prints ratios.
#
#   scripts/bench-baseline.sh [--runs N] [--install]
#
# Benchmarks: fib(30) and a 100-million-iteration integer loop (typed and untyped registers),
# binary-trees of depth 16 (typed and untyped), and string building (int->string, concat, a
# string-keyed map, join), each against its Lua twin (in scripts/baseline/ or, for programs the
# peer benchmarks share, benches/peers/). Ratios above 1 mean Sigma is faster. A second table gives the collector's pauses on the heap benchmarks.
# Needs hyperfine, lua5.4 and python3; --install fetches the first two with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
INSTALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --install) INSTALL=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$INSTALL" = 1 ] || ! command -v lua5.4 >/dev/null || ! command -v hyperfine >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.4 hyperfine >/dev/null
  fi
fi
for tool in lua5.4 hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (run with --install as root)" >&2; exit 1; }
done
cargo build --release --quiet --bin sigma
SIGMA="target/release/sigma"
# The interpreter alone: this table is about the baseline tier.
SIGMA_RUN="$SIGMA run --jit=off"
OUT="$(mktemp -d)"

# name | sigma program | lua command
BENCHES=(
  "fib(30) typed|examples/fib.sbas|lua5.4 benches/peers/fib/fib.lua 30"
  "fib(30) untyped|examples/fib_untyped.sbas|lua5.4 benches/peers/fib/fib.lua 30"
  "loop 100M typed|scripts/baseline/loop.sbas|lua5.4 benches/peers/loop/loop.lua 100000000"
  "loop 100M untyped|scripts/baseline/loop_untyped.sbas|lua5.4 benches/peers/loop/loop.lua 100000000"
  "binary-trees 16 typed|scripts/baseline/binarytrees.sbas|lua5.4 benches/peers/binarytrees/binarytrees.lua 16"
  "binary-trees 16 untyped|scripts/baseline/binarytrees_untyped.sbas|lua5.4 benches/peers/binarytrees/binarytrees.lua 16"
  "strings 8M|scripts/baseline/strings.sbas|lua5.4 benches/peers/strings/strings.lua"
)
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(lua5.4 -v)"
i=0
for b in "${BENCHES[@]}"; do
  IFS='|' read -r name prog lua <<< "$b"
  s_out="$($SIGMA_RUN "$prog")"
  l_out="$($lua)"
  if [ "$s_out" != "$l_out" ]; then
    echo "$name: OUTPUT MISMATCH: sigma=$s_out lua=$l_out" >&2
    exit 1
  fi
  hyperfine -N --style none --warmup 1 --runs "$RUNS" --export-json "$OUT/$i.json" \
    -n sigma "$SIGMA_RUN $prog" -n lua5.4 "$lua" >/dev/null 2>"$OUT/$i.err" \
    || { cat "$OUT/$i.err" >&2; exit 1; }
  echo "$name" > "$OUT/$i.name"
  i=$((i + 1))
done
python3 - "$OUT" "$i" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
print(f"| benchmark | sigma interp (median s) | lua5.4 (median s) | lua / sigma |")
print(f"|---|---|---|---|")
for k in range(n):
    name = open(f"{out}/{k}.name").read().strip()
    res = {r["command"]: r["median"] for r in json.load(open(f"{out}/{k}.json"))["results"]}
    s, l = res["sigma"], res["lua5.4"]
    print(f"| {name} | {s:.3f} | {l:.3f} | {l / s:.2f}x |")
PY
echo
echo "| heap benchmark | collections | total GC pause (ms) | max pause (ms) | heap peak (MB) |"
echo "|---|---|---|---|---|"
for prog in scripts/baseline/binarytrees.sbas scripts/baseline/binarytrees_untyped.sbas scripts/baseline/strings.sbas; do
  stats="$($SIGMA_RUN --stats "$prog" 2>&1 >/dev/null | head -1)"
  python3 - "$prog" "$stats" <<'PY'
import re, sys
prog, s = sys.argv[1], sys.argv[2]
def num(pat):
    return re.search(pat, s).group(1)
colls = num(r"(\d+) collections")
total = num(r"pause total ([\d.]+) ms")
worst = num(r"max ([\d.]+) ms")
peak = int(num(r"heap peak (\d+) bytes")) / 2**20
print(f"| {prog.split('/')[-1]} | {colls} | {total} | {worst} | {peak:.1f} |")
PY
done
