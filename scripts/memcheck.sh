#!/usr/bin/env bash
# Memory-safety check of the unsafe heap code under valgrind memcheck (Miri needs a nightly
# toolchain, which this project's machines cannot fetch): the sigma-gc unit tests (allocator,
# mark, sweep, destructor queue), the runtime's object-layout unit tests, a heap workout
# program run by the interpreter with --gc-stress (a collection at every allocation, freed
# cells poisoned), and the FFI's argument conversions and library objects. Any invalid
# read/write, use of uninitialized memory or definite leak fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
  else
    echo "valgrind is missing" >&2; exit 1
  fi
fi
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite)

test_binary() {  # package -> path of its unit-test executable
  cargo test -p "$1" --lib --no-run 2>&1 | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))/\1/p' | tail -1
}

echo "== memcheck: sigma-gc unit tests"
"${VG[@]}" "$(test_binary sigma-gc)" -q --test-threads=1
echo "== memcheck: runtime object layouts"
"${VG[@]}" "$(test_binary sigma-runtime)" -q --test-threads=1 heap::
echo "== memcheck: heap workout under --gc-stress"
cargo build -q -p sigma-cli --bin sigma
out="$("${VG[@]}" target/debug/sigma run --gc-stress tests/memcheck/heap_workout.sbas)"
expected=$'600\n'"$(target/debug/sigma run tests/memcheck/heap_workout.sbas | tail -1)"
[ "$out" = "$expected" ] || { echo "unexpected output under valgrind: $out (want $expected)" >&2; exit 1; }
echo "== memcheck: FFI conversions and library objects (libffi calls, open/close under --gc-stress)"
"${VG[@]}" "$(test_binary sigma-runtime)" -q --test-threads=1 ffi::
out="$("${VG[@]}" target/debug/sigma run --jit=off --gc-stress examples/ffi.sbas)"
[ "$out" = $'1.0\n1.4142135623730951\n8\n7\n0' ] || { echo "unexpected FFI output under valgrind: $out" >&2; exit 1; }
echo "== memcheck ok"
