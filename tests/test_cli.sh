#!/usr/bin/env bash
# CLI contract: help texts, version, exit codes (0 ok, 1 failure, 2 usage).
set -u
bin=${1:?usage: test_cli.sh path/to/freshtls}
pass=0 fail=0
expect() { # [VAR=value] expect <exit-code> <grep-pattern|-> <args...>
  local want=$1 pat=$2; shift 2
  local out rc
  out=$("$bin" "$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL freshtls $*: exit $rc, want $want"; echo "$out" | sed 's/^/    /'; fail=$((fail+1)); return
  fi
  if [ "$pat" != - ] && ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL freshtls $*: output lacks /$pat/"; echo "$out" | sed 's/^/    /'; fail=$((fail+1)); return
  fi
  echo "ok   freshtls $*"; pass=$((pass+1))
}
expect 0 'usage: freshtls' --help
expect 0 'commands:' help
expect 2 'usage: freshtls' 
expect 2 "unknown command 'frobnicate'" frobnicate
expect 2 "unknown option '--bogus'" --bogus
expect 0 '^freshtls 0\.1\.0' version
expect 0 'OpenSSL +OpenSSL 3\.' version
expect 0 '^freshtls 0\.1\.0' --version
expect 2 'takes no arguments' version extra
expect 0 'usage: freshtls version' version --help
expect 0 'usage: freshtls selftest' selftest --help
expect 0 'all checks passed' selftest
expect 2 'takes no arguments' selftest now

# roots
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect 0 'usage: freshtls roots list' roots --help
expect 2 'missing action' roots
expect 2 'unknown action' roots frob
expect 2 'unknown --source' roots list --source nowhere
expect 2 'export needs -o FILE' roots export
expect 0 'Izenpe\.com' roots list --source fallback
expect 0 '2026-04-15 +embedded:mozilla +Izenpe\.com' roots list --source fallback
expect 0 'roots: +121' roots check --source fallback
expect 0 'wrote 119 roots' roots export --source fallback -o "$tmp/b.pem"
expect 0 'wrote 121 roots' roots export --source fallback --all -o "$tmp/all.pem"
expect 1 'No such file' roots export --source fallback -o "$tmp/nodir/b.pem"
if [ -e "$tmp/nodir" ]; then echo "FAIL export left a directory"; fail=$((fail+1)); fi
out=$("$bin" roots list --source fallback --json)
if python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==121; z=[r for r in d if r["name"]=="Izenpe.com"][0]; assert z["distrust_after"]=="2026-04-15", z; assert len(z["sha256"])==64' <<<"$out"; then
  echo "ok   freshtls roots list --json parses"; pass=$((pass+1))
else
  echo "FAIL freshtls roots list --json"; fail=$((fail+1))
fi
SSL_CERT_DIR= SSL_CERT_FILE="$tmp/b.pem" expect 0 'roots: +119' roots check
SSL_CERT_DIR= SSL_CERT_FILE=/nonexistent/roots.pem expect 1 'cannot load roots.*No such file' roots check
printf 'garbage' > "$tmp/garbage.pem"
SSL_CERT_DIR= SSL_CERT_FILE="$tmp/garbage.pem" expect 1 'no root certificates.*no PEM certificate' roots check
SSL_CERT_DIR= SSL_CERT_FILE="$tmp/garbage.pem" expect 1 'FTLS_E_NO_ROOTS' roots list --source auto

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
