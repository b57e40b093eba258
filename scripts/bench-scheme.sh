#!/usr/bin/env bash
# Scheme benchmarks side by side: every program in benches/scheme/ under Chez Scheme, Guile
# and slisp (tiered JIT and interpreter), each output checked against NAME.expected, median
# wall time of N runs (every timed run's output is checked too), and a table of ratios to
# Chez (benches/peers/table.py --base chez).
#
# Usage: scripts/bench-scheme.sh [--runs N] [--out DIR] [--impls LIST] [--check] [NAME ...]
#   NAME          benchmark names (benches/scheme/NAME.scm); default: all of them, plus the
#                 `startup` probe, which the table uses to print times net of start-up
#   --runs N      timed runs per program and runtime; the median is reported (default 3,
#                 or $RUNS)
#   --out DIR     where outputs, timing JSON and table.md go (default: a fresh temp dir)
#   --impls LIST  comma list from chez,guile,slisp-jit,slisp-interp (default: all four)
#   --check       only run each program once per runtime and check its output
# Environment: RUNS (as --runs), SLISP (slisp binary, default target/release/slisp; build it
# first with cargo build --release).
#
# Commands timed (a runtime that is not installed or not built is skipped with a message):
#   chez          chezscheme --script benches/scheme/NAME.scm   (or `scheme`, if that is Chez)
#   guile         guile benches/scheme/NAME.scm
#                 Auto-compilation stays on: the untimed checking run compiles the program
#                 into Guile's cache (~/.cache/guile/ccache), so the timed runs load the
#                 compiled .go and measure no compilation.
#   slisp-jit     $SLISP run benches/scheme/NAME.scm           (default tiered JIT)
#   slisp-interp  $SLISP run --jit off benches/scheme/NAME.scm (interpreter only)
# Needs python3, which times the runs (wall clock; user+sys CPU from getrusage) and writes
# hyperfine-style JSON for table.py.  Chez and Guile: apt-get install -y chezscheme guile-3.0.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DIR=benches/scheme

RUNS="${RUNS:-3}"
OUT=""
IMPLS="chez,guile,slisp-jit,slisp-interp"
CHECK_ONLY=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --impls) IMPLS="$2"; shift 2 ;;
    --check) CHECK_ONLY=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) names+=("${1%.scm}"); shift ;;
  esac
done
[ -n "$OUT" ] || OUT="$(mktemp -d)/scheme-bench"
SLISP="${SLISP:-$ROOT/target/release/slisp}"

if [ ${#names[@]} -eq 0 ]; then
  for f in "$DIR"/*.scm; do
    n="$(basename "$f" .scm)"
    [ "$n" = startup ] || names+=("$n")
  done
fi
# The start-up probe goes last; table.py subtracts it to print net times.
if [ -f "$DIR/startup.scm" ] && [[ ! " ${names[*]} " =~ " startup " ]]; then
  names+=(startup)
fi
for n in "${names[@]}"; do
  [ -f "$DIR/$n.scm" ] || { echo "no such benchmark: $DIR/$n.scm" >&2; exit 2; }
done

CHEZ="$(command -v chezscheme || true)"
if [ -z "$CHEZ" ] && command -v scheme >/dev/null && scheme --version 2>&1 | grep -qE '^[0-9]+\.[0-9]+'; then
  CHEZ="$(command -v scheme)"
fi
GUILE="$(command -v guile || true)"

# runtime -> command prefix; empty (and a message, once) when it is unavailable
declare -A PREFIX=()
IFS=',' read -r -a IMPL_LIST <<< "$IMPLS"
avail=()
for impl in "${IMPL_LIST[@]}"; do
  case "$impl" in
    chez) [ -n "$CHEZ" ] && PREFIX[$impl]="$CHEZ --script" \
            || echo "skip chez: chezscheme not found (apt-get install -y chezscheme)" ;;
    guile) [ -n "$GUILE" ] && PREFIX[$impl]="$GUILE" \
            || echo "skip guile: guile not found (apt-get install -y guile-3.0)" ;;
    slisp-jit) [ -x "$SLISP" ] && PREFIX[$impl]="$SLISP run" \
            || echo "skip slisp-jit: $SLISP not found (cargo build --release)" ;;
    slisp-interp) [ -x "$SLISP" ] && PREFIX[$impl]="$SLISP run --jit off" \
            || echo "skip slisp-interp: $SLISP not found (cargo build --release)" ;;
    *) echo "unknown runtime $impl (known: chez,guile,slisp-jit,slisp-interp)" >&2; exit 2 ;;
  esac
  if [ -n "${PREFIX[$impl]:-}" ]; then avail+=("$impl"); fi
done
[ ${#avail[@]} -gt 0 ] || { echo "no runtime available"; exit 1; }

# Times RUNS runs of each (name, command) pair and checks each run's stdout and exit status;
# writes {"results": [{"command", "median", "mean", "user", "system", "times"}]} like hyperfine.
TIMER='
import json, resource, statistics, subprocess, sys, time
out, runs, expected = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read()
pairs = sys.argv[4:]
results, ok = [], True
for name, cmd in zip(pairs[::2], pairs[1::2]):
    times, users, syss = [], [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd.split(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0 or p.stdout != expected:
            print("%s: WRONG OUTPUT in a timed run (exit %d): %r" % (name, p.returncode, p.stdout[:200]))
            ok = False
            break
        times.append(t1 - t0)
        users.append(r1.ru_utime - r0.ru_utime)
        syss.append(r1.ru_stime - r0.ru_stime)
    else:
        results.append({"command": name, "median": statistics.median(times),
                        "mean": statistics.mean(times), "user": statistics.mean(users),
                        "system": statistics.mean(syss), "times": times})
with open(out, "w") as f:
    json.dump({"results": results}, f, indent=1)
sys.exit(0 if ok else 1)
'

mkdir -p "$OUT/json" "$OUT/out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ -n "${PREFIX[chez]:-}" ] && echo "chez: $("$CHEZ" --version 2>&1) ($CHEZ --script)"
  [ -n "${PREFIX[guile]:-}" ] && echo "guile: $("$GUILE" --version | head -1) (auto-compiled, cache warmed by the checking run)"
  [ -n "${PREFIX[slisp-jit]:-}${PREFIX[slisp-interp]:-}" ] && echo "slisp: $SLISP"
  echo "runs per cell: $RUNS (median)"
} > "$OUT/versions.txt"
cat "$OUT/versions.txt"

fail=0
for n in "${names[@]}"; do
  src="$DIR/$n.scm"
  timed=()
  for impl in "${avail[@]}"; do
    cmd="${PREFIX[$impl]} $src"
    # Untimed run: checks the output (and compiles Guile's cache).
    if timeout 600 ${PREFIX[$impl]} "$src" > "$OUT/out/$n.$impl.txt" 2> "$OUT/out/$n.$impl.err" \
       && cmp -s "$OUT/out/$n.$impl.txt" "$DIR/$n.expected"; then
      printf '%-12s %-13s ok: %s\n' "$n" "$impl" "$(tr '\n' ' ' < "$OUT/out/$n.$impl.txt")"
      timed+=("$impl" "$cmd")
    else
      printf '%-12s %-13s WRONG OUTPUT (not timed): %s %s\n' "$n" "$impl" \
        "$(head -c 200 "$OUT/out/$n.$impl.txt" | tr '\n' ' ')" "$(tail -n 1 "$OUT/out/$n.$impl.err")"
      fail=1
    fi
  done
  [ "$CHECK_ONLY" = 1 ] && continue
  [ ${#timed[@]} -gt 0 ] || continue
  if python3 -c "$TIMER" "$OUT/json/$n.json" "$RUNS" "$DIR/$n.expected" "${timed[@]}"; then
    echo "timed $n ($RUNS runs each)"
  else
    fail=1
  fi
done

if [ "$CHECK_ONLY" = 0 ] && ls "$OUT"/json/*.json >/dev/null 2>&1; then
  python3 benches/peers/table.py "$OUT" "$(IFS=,; echo "${avail[*]}")" --base chez | tee "$OUT/table.md"
  echo "table: $OUT/table.md   raw times: $OUT/json/*.json   outputs: $OUT/out/"
fi
exit $fail
