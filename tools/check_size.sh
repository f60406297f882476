#!/bin/sh
# Size limits (docs/HACKING.md): no file in src/ over 600 lines except
# generated data, and no function over 60 lines outside tests/ (library,
# CLI, benchmarks, fuzz targets). Function lengths come from pmccabe
# (Debian package pmccabe). Exit 0 when within limits, 1 otherwise.
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 1
fail=0
for f in src/*/*.c src/*/*.h; do
  case "$f" in src/roots/fallback_data.c) continue ;; esac
  n=$(wc -l < "$f")
  if [ "$n" -gt 600 ]; then echo "FAIL $f: $n lines (limit 600)"; fail=1; fi
done
if ! command -v pmccabe >/dev/null 2>&1; then
  echo "FAIL pmccabe not found (apt-get install pmccabe): cannot measure functions"
  exit 1
fi
# pmccabe columns: modified, traditional, statements, first line, lines, where
long=$(pmccabe src/*/*.c cli/*.c shim/*.c bench/*.c fuzz/*.c 2>/dev/null |
       grep -v 'fallback_data.c' | awk '$5 > 60 { print "FAIL " $6 " " $7 ": " $5 " lines (limit 60)" }')
if [ -n "$long" ]; then echo "$long"; fail=1; fi
[ "$fail" = 0 ] && echo "ok   sizes: src files <= 600 lines, functions <= 60 lines"
exit $fail
