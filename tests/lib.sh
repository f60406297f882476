# Helpers shared by the shell tests (sourced). Sets $tmp (removed at exit)
# and $pids (killed at exit); ok/bad count results, finish reports them.
pass=0 fail=0 skipped=0
ok() { echo "ok   $*"; pass=$((pass+1)); }
bad() { echo "FAIL $*"; fail=$((fail+1)); }
skip() { echo "skip $*"; skipped=$((skipped+1)); }
check() { # check "what" COMMAND...: ok when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
tmp=$(mktemp -d); pids=()
# Define lib_on_exit for more cleanup; KEEP=1 keeps $tmp for a post-mortem.
lib_cleanup() {
  if declare -F lib_on_exit >/dev/null; then lib_on_exit; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap lib_cleanup EXIT
finish() {
  echo "$pass passed, $fail failed$([ "$skipped" = 0 ] || echo ", $skipped skipped")"
  [ "$fail" = 0 ]; exit $?
}

# mkca NAME: a P-256 CA in $tmp/NAME.crt and $tmp/NAME.key
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/$1.key" -out "$tmp/$1.crt" -subj "/CN=$1" -days 30 \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign \
    -addext subjectKeyIdentifier=hash 2>/dev/null
}
# mkleaf CA OUT SANS [DAYS]: $tmp/OUT.crt and .key for SANS
# ("DNS:a,IP:127.0.0.1"), with AKI/SKI as real certificates carry them;
# DAYS -1 makes an expired one.
mkleaf() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/$2.key" -out "$tmp/$2.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' "$3" > "$tmp/$2.ext"
  local validity=(-days "${4:-10}")
  # OpenSSL 3.4+ refuses a negative -days; it has -not_before/-not_after.
  if [ "${4:-10}" -lt 0 ] && openssl x509 -help 2>&1 | grep -q -- -not_after; then
    validity=(-not_before 20200101000000Z -not_after 20200201000000Z)
  fi
  openssl x509 -req -in "$tmp/$2.csr" -CA "$tmp/$1.crt" -CAkey "$tmp/$1.key" \
    -CAcreateserial -out "$tmp/$2.crt" "${validity[@]}" -extfile "$tmp/$2.ext" 2>/dev/null
  rm -f "$tmp/$2.csr" "$tmp/$2.ext"
}
# wait_grep PATTERN FILE: until FILE has a line matching PATTERN (10 s)
wait_grep() {
  for _ in $(seq 200); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
# port_of FILE: the port of the first 'listening on ADDR:PORT' in FILE
port_of() { sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" | head -1; }
