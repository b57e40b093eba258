#!/usr/bin/env bash
# Scheme benchmarks side by side: every program in benches/scheme/ under Chez Scheme, Guile
# and slisp (tiered JIT and interpreter), each output checked against NAME.expected, median
# wall time of N runs, and a table of ratios to Chez (benches/peers/table.py --base chez).
#
# Usage: scripts/bench-scheme.sh [--runs N] [--out DIR] [--impls LIST] [--check] [NAME ...]
#   NAME          benchmark names (benches/scheme/NAME.scm); default: all of them, plus the
#                 `startup` probe, which the table uses to print times net of start-up
#   --runs N      timed runs per program and runtime; the median is reported (default 3,
#                 or $RUNS)
#   --out DIR     where outputs, hyperfine JSON and table.md go (default: a fresh temp dir)
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
# Needs hyperfine (apt-get install -y hyperfine) and python3; Chez and Guile come from
# apt-get install -y chezscheme guile-3.0.
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
if [ "$CHECK_ONLY" = 0 ] && ! command -v hyperfine >/dev/null; then
  echo "hyperfine missing (apt-get install -y hyperfine)"; exit 1
fi

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
  hf=()
  for impl in "${avail[@]}"; do
    cmd="${PREFIX[$impl]} $src"
    # Untimed run: checks the output (and compiles Guile's cache).
    if timeout 600 ${PREFIX[$impl]} "$src" > "$OUT/out/$n.$impl.txt" 2> "$OUT/out/$n.$impl.err" \
       && cmp -s "$OUT/out/$n.$impl.txt" "$DIR/$n.expected"; then
      printf '%-12s %-13s ok: %s\n' "$n" "$impl" "$(tr '\n' ' ' < "$OUT/out/$n.$impl.txt")"
      hf+=(-n "$impl" "$cmd")
    else
      printf '%-12s %-13s WRONG OUTPUT (not timed): %s %s\n' "$n" "$impl" \
        "$(head -c 200 "$OUT/out/$n.$impl.txt" | tr '\n' ' ')" "$(tail -n 1 "$OUT/out/$n.$impl.err")"
      fail=1
    fi
  done
  [ "$CHECK_ONLY" = 1 ] && continue
  [ ${#hf[@]} -gt 0 ] || continue
  if hyperfine -N --style basic --runs "$RUNS" --export-json "$OUT/json/$n.json" "${hf[@]}" \
       > "$OUT/out/$n.hyperfine.txt" 2>&1; then
    echo "timed $n"
  else
    echo "hyperfine failed on $n (see $OUT/out/$n.hyperfine.txt)"; fail=1
  fi
done

if [ "$CHECK_ONLY" = 0 ] && ls "$OUT"/json/*.json >/dev/null 2>&1; then
  python3 benches/peers/table.py "$OUT" "$(IFS=,; echo "${avail[*]}")" --base chez | tee "$OUT/table.md"
  echo "table: $OUT/table.md   raw: $OUT/json/*.json   outputs: $OUT/out/"
fi
exit $fail
