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
expect 0 'OpenSSL +OpenSSL [34]\.[0-9]+\.[0-9]+.*\(loaded\)' version
expect 0 'built against OpenSSL [34]\.' version
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
expect 2 '--source takes one of' roots list --source nowhere
expect 2 'export needs -o FILE' roots export
expect 0 'Izenpe\.com' roots list --source fallback
expect 0 '2026-04-15 +embedded:mozilla +Izenpe\.com' roots list --source fallback
expect 0 'roots: +121' roots check --source fallback
expect 0 'wrote 119 roots' roots export --source fallback -o "$tmp/b.pem"
expect 0 'wrote 121 roots' roots export --source fallback --all -o "$tmp/all.pem"
# -o - is standard output, never a file named '-'.
abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
(cd "$tmp" && "$abs_bin" roots export --source fallback -o - > "$tmp/stdout.pem" 2> "$tmp/stdout.err")
if cmp -s <(grep -v '^# Root certificates exported' "$tmp/stdout.pem") \
          <(grep -v '^# Root certificates exported' "$tmp/b.pem") &&
   [ ! -e "$tmp/-" ] && grep -q 'wrote 119 roots to standard output' "$tmp/stdout.err"; then
  echo "ok   roots export -o - writes the bundle to stdout"; pass=$((pass+1))
else
  echo "FAIL roots export -o -"; fail=$((fail+1))
fi
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

# check and watch
mkd() { mkdir -p "$1"; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -subj /CN=CLI-Test-CA -days 30 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
leaf() { # leaf NAME DIR: key + cert signed by the test CA into DIR/tls.{key,crt}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$2/tls.key" \
    -out "$2/req.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' > "$2/ext"
  openssl x509 -req -in "$2/req.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
    -CAcreateserial -out "$2/tls.crt" -days 10 -extfile "$2/ext" 2>/dev/null
  rm -f "$2/req.csr" "$2/ext"
}
mkd "$tmp/id"; leaf one.example "$tmp/id"
expect 0 'usage: freshtls check' check --help
expect 2 'exactly one of' check
expect 2 'exactly one of' check --dir "$tmp/id" --pem x
expect 0 'result: +OK.*' check --dir "$tmp/id"
expect 0 'subject: +/CN=one\.example' check --cert "$tmp/id/tls.crt" --key "$tmp/id/tls.key"
expect 0 'OK' check --dir "$tmp/id" --chain-to "$tmp/ca.crt"
expect 1 'REJECTED:.*does not verify.*FTLS_E_VERIFY' check --dir "$tmp/id" --chain-to "$tmp/b.pem"
mkd "$tmp/id2"; leaf two.example "$tmp/id2"
expect 1 'REJECTED:.*does not match.*FTLS_E_KEY_MISMATCH' check --cert "$tmp/id/tls.crt" --key "$tmp/id2/tls.key"
expect 1 'REJECTED:.*FTLS_E_NOT_FOUND' check --dir "$tmp/nothing-here"
# --json reports parse as JSON and carry the same verdicts.
json_ok() { # json_ok DESC PYTHON-EXPR ARGS...: run, parse stdout, check EXPR on d
  local desc=$1 expr=$2; shift 2
  if "$bin" "$@" 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)"; then
    echo "ok   $desc"; pass=$((pass+1))
  else
    echo "FAIL $desc"; "$bin" "$@" 2>&1 | sed 's/^/    /'; fail=$((fail+1))
  fi
}
json_ok "check --json: ok with names and fingerprint" \
  'd["result"] == "ok" and d["key_bits"] == 256 and len(d["sha256"]) == 95' check --dir "$tmp/id" --json
json_ok "check --json: rejected with the code" \
  'd["result"] == "rejected" and d["code"] == "FTLS_E_KEY_MISMATCH"' \
  check --cert "$tmp/id/tls.crt" --key "$tmp/id2/tls.key" --json
json_ok "roots check --json" 'd["roots"] == 121 and d["problem_count"] == 0' \
  roots check --source fallback --json
json_ok "demo --json" 'd["result"] == "pass" and d["rotations_picked_up"] == 2' \
  demo --rotations 2 --interval 50 --json
# demo stops cleanly with many clients: a client that connected just before
# the stop used to wait forever for a server that had already left (every
# run with 8 clients hung; now servers serve until the clients are done).
for i in 1 2 3; do
  timeout 60 "$bin" demo --rotations 1 --interval 10 --clients 8 >/dev/null 2>&1
  rc=$?
  [ $rc -eq 0 ] || break
done
if [ $rc -eq 0 ]; then
  echo "ok   demo with 8 clients stops cleanly (3 runs)"; pass=$((pass+1))
else
  echo "FAIL demo with 8 clients: exit $rc (124: hung at shutdown)"; fail=$((fail+1))
fi
# IP SANs are shown as addresses, not as byte counts.
mkd "$tmp/ipca"; "$bin" ca init --out "$tmp/ipca/ca" >/dev/null
"$bin" mint 127.0.0.1 --allow-ip --ca "$tmp/ipca/ca" --key-out "$tmp/ipca/tls.key" > "$tmp/ipca/tls.crt"
expect 0 'names: +IP:127\.0\.0\.1$' check --dir "$tmp/ipca"
# serve with an encrypted key: one clear line without a passphrase (the
# failed load is reported once, not by the log, the event and a summary),
# and it serves with --pass-file.
mkd "$tmp/encid"; leaf enc.example "$tmp/encid"
openssl pkey -in "$tmp/encid/tls.key" -aes256 -passout pass:pw -out "$tmp/encid/k2" && mv "$tmp/encid/k2" "$tmp/encid/tls.key"
printf 'pw\n' > "$tmp/pw"
"$bin" serve --dir "$tmp/encid" --listen 127.0.0.1:0 > /dev/null 2> "$tmp/enc.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/enc.err")" -eq 1 ] && grep -q 'encrypted and no passphrase' "$tmp/enc.err"; then
  echo "ok   serve: an encrypted key without a passphrase is one clear line"; pass=$((pass+1))
else
  echo "FAIL serve encrypted key (exit $rc)"; sed 's/^/    /' "$tmp/enc.err"; fail=$((fail+1))
fi
"$bin" serve --dir "$tmp/encid" --pass-file "$tmp/pw" --listen 127.0.0.1:0 > "$tmp/enc.out" 2>&1 & spid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/enc.out" && break; sleep 0.05; done
grep -q 'listening on' "$tmp/enc.out" && { echo "ok   serve --pass-file decrypts the key"; pass=$((pass+1)); } \
  || { echo "FAIL serve --pass-file"; cat "$tmp/enc.out"; fail=$((fail+1)); }
kill -TERM $spid; wait $spid
expect 0 'usage: freshtls watch' watch --help
expect 2 'dir is required' watch
# watch: start, rotate Kubernetes-style, see the reload, stop with SIGTERM.
w="$tmp/k8s"; mkd "$w/..gen1"; leaf gen1.example "$w/..gen1"
ln -s ..gen1 "$w/..data"; ln -s ..data/tls.crt "$w/tls.crt"; ln -s ..data/tls.key "$w/tls.key"
"$bin" watch --dir "$w" > "$tmp/watch.out" 2>&1 & wpid=$!
for _ in $(seq 100); do grep -q 'watching' "$tmp/watch.out" && break; sleep 0.05; done
mkd "$w/..gen2"; leaf gen2.example "$w/..gen2"
ln -s ..gen2 "$w/..data_tmp" && mv -T "$w/..data_tmp" "$w/..data" && rm -rf "$w/..gen1"
for _ in $(seq 200); do grep -q 'gen2.example' "$tmp/watch.out" && break; sleep 0.05; done
kill -TERM $wpid; wait $wpid; wrc=$?
if [ $wrc -eq 0 ] && grep -q 'loaded .*gen=1 .*gen1.example' "$tmp/watch.out" &&
   grep -q 'loaded .*gen=2 .*gen2.example' "$tmp/watch.out"; then
  echo "ok   freshtls watch follows a Kubernetes swap"; pass=$((pass+1))
else
  echo "FAIL freshtls watch (exit $wrc)"; sed 's/^/    /' "$tmp/watch.out"; fail=$((fail+1))
fi
# watch --json --poll: JSON lines, no 'degraded' for configured polling,
# SIGHUP reloads (logged; the process lives on), SIGTERM exits 0.
expect 2 'debounce takes a number' watch --dir "$w" --debounce abc
"$bin" watch --dir "$w" --json --poll 50 > "$tmp/wj.out" 2> "$tmp/wj.err" & wpid=$!
for _ in $(seq 100); do grep -q '"loaded"' "$tmp/wj.out" && break; sleep 0.05; done
kill -HUP $wpid
for _ in $(seq 100); do grep -q '"unchanged"' "$tmp/wj.out" && break; sleep 0.05; done
alive=0; kill -0 $wpid 2>/dev/null && alive=1
kill -TERM $wpid; wait $wpid; wrc=$?
if [ $alive = 1 ] && [ $wrc -eq 0 ] && grep -q 'SIGHUP: reloading' "$tmp/wj.err" &&
   ! grep -q degraded "$tmp/wj.out" &&
   python3 -c 'import json,sys; ev=[json.loads(l)["event"] for l in open(sys.argv[1])]; sys.exit(ev[:2] != ["loaded","unchanged"])' "$tmp/wj.out"; then
  echo "ok   watch --json --poll: JSON lines, SIGHUP reloads, no degraded event"; pass=$((pass+1))
else
  echo "FAIL watch --json (alive $alive, exit $wrc)"; sed 's/^/    /' "$tmp/wj.out" "$tmp/wj.err"; fail=$((fail+1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
