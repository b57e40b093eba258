#!/usr/bin/env bash
# Cross-checks the golden tests against two peer Schemes: every NAME.scm must print the same
# stdout (and exit with the same code) under Chez Scheme and Guile, and that must equal
# NAME.out (and NAME.exit, default 0).  With --write, (re)generates NAME.out / NAME.exit from
# the peers' agreed output instead, refusing when they disagree.
#
# A file whose first line is an import form is also run as a Chez top-level program
# (--program), where only imported bindings are visible, to catch missing imports.
#
# Usage: lisp/tests/golden/check-peers.sh [--write] [FILE.scm ...]   (default: every *.scm
#        here and in kernels/).  NAME.in, when present, is fed to stdin (else /dev/null).
# Chez 9.5 has no R7RS libraries: chez-r7rs/ supplies (scheme base), (scheme write), ... and
# is passed with --libdirs; files without an import form run in Chez's default environment.
#   chez:  chezscheme --libdirs chez-r7rs --script FILE
#   guile: guile --r7rs FILE   (auto-compiles into ~/.cache/guile on first run)
# Needs: apt-get install -y chezscheme guile-3.0
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CHEZ="$(command -v chezscheme || command -v scheme || true)"
GUILE="$(command -v guile || true)"
[ -n "$CHEZ" ] || { echo "chezscheme not found (apt-get install -y chezscheme)"; exit 2; }
[ -n "$GUILE" ] || { echo "guile not found (apt-get install -y guile-3.0)"; exit 2; }

WRITE=0
files=()
for a in "$@"; do
  case "$a" in
    --write) WRITE=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#'; exit 0 ;;
    *) files+=("$a") ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  for f in "$HERE"/*.scm "$HERE"/kernels/*.scm; do [ -e "$f" ] && files+=("$f"); done
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
for f in "${files[@]}"; do
  base="${f%.scm}"
  name="$(basename "$base")"
  input=/dev/null
  [ -f "$base.in" ] && input="$base.in"
  set +e
  timeout 120 "$CHEZ" --libdirs "$HERE/chez-r7rs" --script "$f" < "$input" > "$tmp/chez.out" 2> "$tmp/chez.err"
  crc=$?
  GUILE_WARN_DEPRECATED=no timeout 120 "$GUILE" --r7rs "$f" < "$input" > "$tmp/guile.out" 2> "$tmp/guile.err"
  grc=$?
  set -e
  if ! cmp -s "$tmp/chez.out" "$tmp/guile.out" || [ "$crc" != "$grc" ]; then
    echo "DISAGREE $name (chez exit $crc, guile exit $grc)"
    diff "$tmp/chez.out" "$tmp/guile.out" | head -20 || true
    tail -n 3 "$tmp/chez.err" "$tmp/guile.err" || true
    fail=1
    continue
  fi
  # A file that starts with an import form must also run as a strict R6RS top-level program
  # under Chez, where only the imported libraries' bindings are visible: this catches a
  # procedure used without importing the library that exports it.
  if head -n 1 "$f" | grep -q '^(import'; then
    set +e
    timeout 120 "$CHEZ" --libdirs "$HERE/chez-r7rs" --program "$f" < "$input" > "$tmp/strict.out" 2> "$tmp/strict.err"
    set -e
    if ! cmp -s "$tmp/strict.out" "$tmp/chez.out"; then
      echo "IMPORTS $name: fails when only its imports are visible: $(grep -m1 -i exception "$tmp/strict.err")"
      fail=1
      continue
    fi
  fi
  if [ "$WRITE" = 1 ]; then
    cp "$tmp/chez.out" "$base.out"
    if [ "$crc" != 0 ]; then echo "$crc" > "$base.exit"; else rm -f "$base.exit"; fi
    echo "wrote $name.out$( [ "$crc" != 0 ] && echo " and $name.exit ($crc)")"
    continue
  fi
  want_rc=0
  [ -f "$base.exit" ] && want_rc="$(cat "$base.exit")"
  if [ ! -f "$base.out" ]; then
    echo "MISSING $name.out"; fail=1
  elif ! cmp -s "$tmp/chez.out" "$base.out"; then
    echo "DIFF $name: peers agree with each other but not with $name.out"
    diff "$base.out" "$tmp/chez.out" | head -20 || true
    fail=1
  elif [ "$crc" != "$want_rc" ]; then
    echo "EXIT $name: peers exit $crc, $name.exit says $want_rc"; fail=1
  else
    echo "ok $name"
  fi
done
exit $fail
