#!/usr/bin/env bash
# Minted leaves against external verifiers: openssl verify -x509_strict,
# Python ssl with VERIFY_X509_STRICT and curl, the last two through a
# loopback server that mints per SNI (freshtls serve --mint-ca). CLI
# behaviour of `ca init` and `mint`. Loopback only.
set -u
bin=${1:?usage: test_mint.sh path/to/freshtls}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

"$bin" ca init --out "$tmp/ca" >/dev/null && ok "ca init" || bad "ca init"
[ "$(stat -c %a "$tmp/ca/ca.key")" = 600 ] && [ "$(stat -c %a "$tmp/ca/ca.crt")" = 644 ] \
  && ok "ca files are 0600/0644" || bad "ca file modes"
out=$("$bin" ca init --out "$tmp/ca" 2>&1) && bad "ca init overwrote" || {
  grep -q 'refusing to overwrite' <<<"$out" && ok "ca init refuses to overwrite" || bad "ca init: $out"; }

"$bin" mint Shop.Example.COM --ca "$tmp/ca" --key-out "$tmp/leaf.key" > "$tmp/leaf.pem" \
  && ok "mint" || bad "mint"
out=$(openssl verify -x509_strict -purpose sslserver -verify_hostname shop.example.com \
      -CAfile "$tmp/ca/ca.crt" "$tmp/leaf.pem" 2>&1)
grep -q ': OK$' <<<"$out" && ok "openssl verify -x509_strict -purpose sslserver -verify_hostname" \
  || bad "openssl verify: $out"
[ "$(stat -c %a "$tmp/leaf.key")" = 600 ] && ok "leaf key is 0600" || bad "leaf key mode"
openssl x509 -in "$tmp/leaf.pem" -noout -checkend 3000 >/dev/null && \
  ! openssl x509 -in "$tmp/leaf.pem" -noout -checkend 3700 >/dev/null \
  && ok "default lifetime is one hour" || bad "lifetime"
"$bin" mint x.example --ca "$tmp/ca" --key-out "$tmp/leaf.key" >/dev/null 2>&1 \
  && bad "mint overwrote a key file" || ok "mint refuses to overwrite --key-out"
for name in 'bad_name.example' '*.example.com' '127.0.0.1' '-x.example' 'a..b'; do
  out=$("$bin" mint --ca "$tmp/ca" -- "$name" 2>&1); rc=$?
  [ $rc -eq 1 ] && grep -q 'FTLS_E_NAME_REJECTED' <<<"$out" && ok "mint refuses '$name'" \
    || bad "mint '$name': exit $rc: $out"
done
"$bin" mint 127.0.0.1 --allow-ip --ca "$tmp/ca" > "$tmp/ip.pem" && \
  openssl verify -x509_strict -verify_ip 127.0.0.1 -CAfile "$tmp/ca/ca.crt" "$tmp/ip.pem" >/dev/null 2>&1 \
  && ok "mint --allow-ip gives a verifiable IP SAN" || bad "IP SAN"
for name in 127.1 2130706433 0x7f.1 010.0.0.1 1.2.3; do
  out=$("$bin" mint --ca "$tmp/ca" -- "$name" 2>&1); rc=$?
  [ $rc -eq 1 ] && grep -q 'IP literal' <<<"$out" && ok "mint treats '$name' as an IP literal" \
    || bad "mint '$name': exit $rc: $out"
done
"$bin" mint 0x7f.1 --allow-ip --ca "$tmp/ca" > "$tmp/ip2.pem" && \
  openssl x509 -in "$tmp/ip2.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' \
  && ok "mint 0x7f.1 --allow-ip gives IP SAN 127.0.0.1" || bad "0x7f.1 IP SAN"
"$bin" mint a.example --days 181 --ca "$tmp/ca" >/dev/null 2>&1; [ $? -eq 2 ] \
  && ok "mint --days over 180 is a usage error" || bad "--days 181"

# A loopback server minting per SNI.
"$bin" serve --mint-ca "$tmp/ca" --listen 127.0.0.1:0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
spid=$!; pids+=("$spid")
for _ in $(seq 200); do grep -q 'listening on' "$tmp/serve.out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/serve.out")
[ -n "$port" ] && ok "serve --mint-ca on port $port" || { bad "serve --mint-ca"; cat "$tmp/serve.err"; }

out=$(python3 - "$port" "$tmp/ca/ca.crt" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
if hasattr(ssl, "VERIFY_X509_STRICT"):
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
for host in ("shop.example.com", "api.internal.example"):
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = t.recv(4096).decode()
            print(host, "strict-ok", "CN=" + host in data)
PY
)
[ "$(grep -c 'strict-ok True' <<<"$out")" = 2 ] && ok "python ssl VERIFY_X509_STRICT accepts minted leaves" \
  || bad "python strict: $out"
out=$(curl -sS --noproxy '*' --cacert "$tmp/ca/ca.crt" --resolve "shop.example.com:$port:127.0.0.1" \
      "https://shop.example.com:$port/" 2>&1)
grep -q 'CN=shop.example.com' <<<"$out" && ok "curl --cacert verifies the minted leaf" || bad "curl: $out"
# No SNI (an IP target): refused and audited, never a default certificate.
curl -s --noproxy '*' --cacert "$tmp/ca/ca.crt" "https://127.0.0.1:$port/" >/dev/null 2>&1 \
  && bad "served without SNI" || ok "no SNI: handshake refused"
for _ in $(seq 100); do grep -q "refused handshake for ''" "$tmp/serve.err" && break; sleep 0.05; done
grep -q "refused handshake for '': no SNI" "$tmp/serve.err" && ok "refusal is audited" || bad "no audit line"
kill -TERM "$spid"; wait "$spid"; rc=$?; spid=
[ $rc -eq 0 ] && ok "clean shutdown" || bad "serve exit $rc"

# CA key safety. An encrypted key is never prompted for, even with a
# terminal attached (script(1) gives the command a pty; a prompt would
# block until the timeout).
FTLS_PW='s3cret pass' "$bin" ca init --out "$tmp/enc" --ca-pass-env FTLS_PW >/dev/null \
  && grep -q 'ENCRYPTED PRIVATE KEY' "$tmp/enc/ca.key" && ok "ca init --ca-pass-env encrypts the key" \
  || bad "encrypted ca init"
if command -v script >/dev/null 2>&1; then
  out=$(timeout 20 script -qec "'$bin' serve --mint-ca '$tmp/enc' --listen 127.0.0.1:0" /dev/null 2>&1); rc=$?
  [ $rc -ne 124 ] && grep -q 'encrypted and no passphrase is configured' <<<"$out" \
    && ok "serve --mint-ca with an encrypted key fails without prompting" || bad "prompt? exit $rc: $out"
else
  out=$("$bin" mint a.example --ca "$tmp/enc" 2>&1 </dev/null)
  grep -q 'encrypted and no passphrase' <<<"$out" && ok "encrypted key: clear error" || bad "enc: $out"
fi
FTLS_PW='s3cret pass' "$bin" mint a.example --ca "$tmp/enc" --ca-pass-env FTLS_PW >/dev/null \
  && ok "mint --ca-pass-env decrypts" || bad "mint with passphrase"
printf 's3cret pass\n' > "$tmp/pw"
"$bin" mint a.example --ca "$tmp/enc" --ca-pass-file "$tmp/pw" >/dev/null \
  && ok "mint --ca-pass-file decrypts" || bad "mint with passphrase file"
chmod 0666 "$tmp/ca/ca.key"
out=$("$bin" mint a.example --ca "$tmp/ca" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q 'mode 0666' <<<"$out" && ok "a 0666 CA key is refused" || bad "0666 key: exit $rc: $out"
"$bin" mint a.example --ca "$tmp/ca" --insecure-ca-perms >/dev/null \
  && ok "--insecure-ca-perms overrides" || bad "--insecure-ca-perms"
chmod 0600 "$tmp/ca/ca.key"
mkdir -m 0777 "$tmp/open"; chmod 0777 "$tmp/open"
out=$("$bin" ca init --out "$tmp/open" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q 'writable by others' <<<"$out" && [ ! -e "$tmp/open/ca.key" ] \
  && ok "ca init into a world-writable directory is refused" || bad "0777 dir: exit $rc: $out"
# A leaf never outlives its CA.
"$bin" ca init --out "$tmp/short" --days 30 >/dev/null
out=$("$bin" mint long.example --ca "$tmp/short" --days 180 2>"$tmp/mint.err" > "$tmp/long.pem"); rc=$?
ca_end=$(openssl x509 -in "$tmp/short/ca.crt" -noout -enddate)
leaf_end=$(openssl x509 -in "$tmp/long.pem" -noout -enddate)
[ $rc -eq 0 ] && [ "$ca_end" = "$leaf_end" ] && grep -q 'ends with its CA' "$tmp/mint.err" \
  && ok "mint --days 180 under a 30-day CA ends with the CA" || bad "clamp: $ca_end vs $leaf_end"

finish
