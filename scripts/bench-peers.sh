#!/usr/bin/env bash
# Sigma against its peers: runs every benchmark in benches/peers/ under Sigma (JIT and
# interpreter, typed and untyped twins), C (gcc -O2), LuaJIT (JIT and -joff) and Lua 5.4,
# checks that every output equals C's, and prints median wall times with ratios to C.
#
# Usage: scripts/bench-peers.sh [--runs N] [--max-runs N] [--check] [--out DIR] [bench ...]
# Installs gcc, hyperfine, lua5.4 and luajit from apt when one is missing (needs root or sudo).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

missing=()
for tool in gcc hyperfine lua5.4 luajit; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gcc hyperfine lua5.4 luajit >/dev/null
fi

cargo build --release -q -p sigma-cli
SIGMA="$ROOT/target/release/sigma"
"$SIGMA" --version

opts=(); benches=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs|--max-runs|--out) opts+=("$1" "$2"); shift 2 ;;
    --*) opts+=("$1"); shift ;;
    *) benches+=("$1"); shift ;;
  esac
done
[ ${#benches[@]} -gt 0 ] || benches=(fib loop sieve mandelbrot nbody spectral fannkuch binarytrees dispatch)

exec benches/peers/run.sh --impls c,luajit,luajit-joff,lua54 \
  --extra "sigma-jit:sbas:$SIGMA run --jit=on" \
  --extra "sigma-jit-any:untyped.sbas:$SIGMA run --jit=on" \
  --extra "sigma-interp:sbas:$SIGMA run --jit=off" \
  --extra "sigma-interp-any:untyped.sbas:$SIGMA run --jit=off" \
  "${opts[@]}" "${benches[@]}"
