#!/usr/bin/env bash
# freshtls serve against real clients (openssl s_client, curl, Python ssl),
# before and after a Kubernetes-style rotation, then mTLS with a client-CA
# rotation, and a clean shutdown on SIGTERM. Loopback only.
set -u
bin=${1:?usage: test_serve.sh path/to/freshtls}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

ca() { # ca NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/$1.key" -out "$tmp/$1.crt" -subj "/CN=$1" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}
issue() { # issue CA OUTDIR CN EKU
  mkdir -p "$2"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$2/tls.key" \
    -out "$2/req.csr" -subj "/CN=$3" 2>/dev/null
  # AKI and SKI as real certificates carry them (OpenSSL 4.0 and Python
  # require AKI under X509_STRICT).
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' "$4" > "$2/ext"
  openssl x509 -req -in "$2/req.csr" -CA "$tmp/$1.crt" -CAkey "$tmp/$1.key" -CAcreateserial \
    -out "$2/tls.crt" -days 10 -extfile "$2/ext" 2>/dev/null
  rm -f "$2/req.csr" "$2/ext"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
swap() { # swap SECRETDIR GENDIR: AtomicWriter-style ..data swap
  local old; old=$(readlink "$1/..data" 2>/dev/null)
  ln -s "$(basename "$2")" "$1/..data_tmp" && mv -T "$1/..data_tmp" "$1/..data"
  [ -e "$1/tls.crt" ] || ln -s ..data/tls.crt "$1/tls.crt"
  [ -e "$1/tls.key" ] || ln -s ..data/tls.key "$1/tls.key"
  [ -n "$old" ] && rm -rf "$1/$old"
}
start() { # start ARGS...: run serve on a free port, set $port
  "$bin" serve --listen 127.0.0.1:0 "$@" > "$tmp/serve.out" 2> "$tmp/serve.err" &
  spid=$!; pids+=("$spid")
  for _ in $(seq 200); do grep -q 'listening on' "$tmp/serve.out" && break; sleep 0.05; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/serve.out")
}
wait_serial() { # wait_serial SERIAL: until curl sees it (bounded)
  for _ in $(seq 200); do
    curl -s --noproxy '*' --cacert "$tmp/CA.crt" "https://127.0.0.1:$port/" | grep -q "serial=$1" && return 0
    sleep 0.05
  done
  return 1
}

ca CA
secret="$tmp/secret"; mkdir -p "$secret"
issue CA "$secret/..gen1" gen1.example serverAuth; swap "$secret" "$secret/..gen1"
s1=$(serial_of "$secret/..gen1/tls.crt")
start --dir "$secret"
[ -n "$port" ] && ok "serve is listening on port $port" || { bad "serve did not start"; cat "$tmp/serve.err"; exit 1; }

clients() { # clients SERIAL
  local out
  out=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
        -servername localhost -CAfile "$tmp/CA.crt" -verify_return_error -verify_hostname localhost -quiet 2>&1)
  grep -q "serial=$1" <<<"$out" && ok "openssl s_client verified and got serial $1" \
    || { bad "openssl s_client (want $1)"; echo "$out" | sed 's/^/    /' | tail -5; }
  out=$(curl -sS --noproxy '*' --cacert "$tmp/CA.crt" "https://127.0.0.1:$port/" 2>&1)
  grep -q "serial=$1" <<<"$out" && ok "curl verified and got serial $1" || { bad "curl (want $1): $out"; }
  out=$(python3 - "$port" "$tmp/CA.crt" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname="localhost") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
        print(data.decode())
PY
)
  grep -q "serial=$1" <<<"$out" && ok "python ssl verified and got serial $1" || { bad "python (want $1): $out"; }
}
clients "$s1"
# Rotate: a new generation with a new serial, AtomicWriter style.
issue CA "$secret/..gen2" gen2.example serverAuth; s2=$(serial_of "$secret/..gen2/tls.crt")
swap "$secret" "$secret/..gen2"
wait_serial "$s2" && ok "rotation picked up without a restart" || bad "rotation not seen"
clients "$s2"
grep -q 'loaded dir:' "$tmp/serve.err" && ok "reloads are logged" || bad "no reload log"
# A client that trusts an unrelated CA is refused by verification.
ca Unrelated
curl -s --noproxy '*' "https://127.0.0.1:$port/" --cacert "$tmp/Unrelated.crt" >/dev/null 2>&1 \
  && bad "curl accepted a server from an untrusted CA" || ok "curl with the wrong CA fails"
kill -TERM "$spid"; wait "$spid"; rc=$?
[ "$rc" -eq 0 ] && ok "clean shutdown on SIGTERM" || bad "serve exited $rc on SIGTERM"

# mTLS with a rotating client-CA file.
ca ClientCA1; ca ClientCA2
issue ClientCA1 "$tmp/c1" client-one clientAuth
issue ClientCA2 "$tmp/c2" client-two clientAuth
cp "$tmp/ClientCA1.crt" "$tmp/client-cas.pem"
start --dir "$secret" --client-ca "$tmp/client-cas.pem"
req() { curl -s --noproxy '*' --cacert "$tmp/CA.crt" --cert "$1/tls.crt" --key "$1/tls.key" "https://127.0.0.1:$port/"; }
req "$tmp/c1" | grep -q 'client certificate: subject=/CN=client-one' && ok "mTLS: client-one accepted" || bad "mTLS: client-one refused"
req "$tmp/c2" | grep -q served && bad "mTLS: client-two accepted before rotation" || ok "mTLS: client-two refused"
for _ in $(seq 100); do grep -q 'client certificate rejected' "$tmp/serve.err" && break; sleep 0.05; done
grep -q 'handshake with 127.0.0.1:[0-9]* failed: client certificate rejected' "$tmp/serve.err" \
  && ok "mTLS: the rejected client is logged" || bad "mTLS rejection not logged: $(cat "$tmp/serve.err")"
curl -s --noproxy '*' --cacert "$tmp/CA.crt" "https://127.0.0.1:$port/" | grep -q served \
  && bad "mTLS: no client certificate accepted" || ok "mTLS: no client certificate refused"
cp "$tmp/ClientCA2.crt" "$tmp/client-cas.pem.new" && mv "$tmp/client-cas.pem.new" "$tmp/client-cas.pem"
seen=0; for _ in $(seq 200); do req "$tmp/c2" | grep -q 'client-two' && { seen=1; break; }; sleep 0.05; done
[ $seen -eq 1 ] && ok "mTLS: client-two accepted after the CA rotation" || bad "mTLS: rotation not seen"
req "$tmp/c1" | grep -q served && bad "mTLS: client-one still accepted" || ok "mTLS: client-one refused after rotation"
kill -INT "$spid"; wait "$spid"; rc=$?
[ "$rc" -eq 0 ] && ok "clean shutdown on SIGINT" || bad "serve exited $rc on SIGINT"

finish
