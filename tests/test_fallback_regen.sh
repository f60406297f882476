#!/usr/bin/env bash
# Regenerating src/roots/fallback_data.c from the vendored certdata.txt gives the
# checked-in bytes; and the generator fails loudly on an unknown attribute
# type.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
pass=0 fail=0
if python3 "$root/tools/gen_fallback.py" --check; then
  echo "ok   regenerated fallback_data.c matches"; pass=$((pass+1))
else
  echo "FAIL regenerated fallback_data.c differs"; fail=$((fail+1))
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Regenerate into a temp file and compare byte for byte too.
python3 "$root/tools/gen_fallback.py" --out "$tmp/out.c" >/dev/null
if cmp -s "$tmp/out.c" "$root/src/roots/fallback_data.c"; then
  echo "ok   byte-identical"; pass=$((pass+1))
else
  echo "FAIL not byte-identical"; fail=$((fail+1))
fi
# An unknown attribute type must fail the generation.
sed '0,/CKA_TOKEN CK_BBOOL CK_TRUE/s//CKA_TOKEN CK_MYSTERY CK_TRUE/' \
  "$root/third_party/nss/certdata.txt" > "$tmp/certdata.txt"
sed "s/^sha256=.*/sha256=$(sha256sum "$tmp/certdata.txt" | cut -d' ' -f1)/" \
  "$root/third_party/nss/PROVENANCE" > "$tmp/PROVENANCE"
if python3 "$root/tools/gen_fallback.py" --certdata "$tmp/certdata.txt" \
     --provenance "$tmp/PROVENANCE" --out "$tmp/x.c" 2>"$tmp/err"; then
  echo "FAIL unknown attribute type accepted"; fail=$((fail+1))
elif grep -q "unknown attribute type 'CK_MYSTERY'" "$tmp/err"; then
  echo "ok   unknown attribute type rejected loudly"; pass=$((pass+1))
else
  echo "FAIL wrong error: $(cat "$tmp/err")"; fail=$((fail+1))
fi
# A certdata.txt that does not match its recorded provenance is refused.
if python3 "$root/tools/gen_fallback.py" --certdata "$tmp/certdata.txt" \
     --out "$tmp/y.c" 2>/dev/null; then
  echo "FAIL provenance mismatch accepted"; fail=$((fail+1))
else
  echo "ok   provenance mismatch refused"; pass=$((pass+1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
