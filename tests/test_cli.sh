#!/usr/bin/env bash
# CLI contract: help texts, version, exit codes (0 ok, 1 failure, 2 usage).
set -u
bin=${1:?usage: test_cli.sh path/to/freshtls}
pass=0 fail=0
expect() { # expect <exit-code> <grep-pattern|-> <args...>
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
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
