#!/bin/sh
# The C sources follow .clang-format (docs/HACKING.md, "Style"). Checked
# with clang-format 14 (Debian 12's); other majors format a few constructs
# differently, so with another version, or none, the check is skipped
# (exit 77) and says why. Exit 0 when formatted, 1 with the files that are
# not (fix: tools/check_format.sh --fix).
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null 2>&1; then cf=$c; break; fi
  done
fi
if [ -z "$cf" ]; then
  echo "SKIP clang-format not found (apt-get install clang-format)"
  exit 77
fi
major=$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$major" != 14 ]; then
  echo "SKIP $cf is version $major; the style is checked with clang-format 14"
  exit 77
fi
files=$(find src include cli shim tests bench fuzz examples tools \
          -name '*.[ch]' ! -name 'fallback_data.*' | sort)
if [ "${1:-}" = --fix ]; then
  # shellcheck disable=SC2086
  exec "$cf" -i $files
fi
bad=""
for f in $files; do
  "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  for f in $bad; do echo "FAIL $f is not formatted (.clang-format)"; done
  echo "fix: tools/check_format.sh --fix"
  exit 1
fi
echo "ok   format: $(echo "$files" | wc -l) files follow .clang-format"
