#!/usr/bin/env bash
# freshtls exec and the preload shim against unmodified programs from
# Debian packages, on loopback: openssl s_server (certificate given with
# --dir) and Python's ssl module (its own files, load_cert_chain) serve a
# rotated certificate on the next handshake without a restart or a
# signal; a mismatched key is never served and the log says why; loaded
# without FRESHTLS_EXEC the shim changes nothing.
set -u
bin=${1:?usage: test_exec.sh path/to/freshtls path/to/libfreshtls-preload.so}
shim=${2:?usage: test_exec.sh path/to/freshtls path/to/libfreshtls-preload.so [exec_callbacks]}
cbprog=${3:-}
staticprog=${4:-}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
py=/usr/bin/python3; [ -x "$py" ] || py=python3

"$bin" ca init --out "$tmp/ca" >/dev/null || exit 1
gen() { # gen DIR: a fresh localhost leaf into DIR/tls.{crt,key}; prints its serial
  mkdir -p "$1"; rm -f "$1/tls.key"
  "$bin" mint localhost --ca "$tmp/ca" --days 2 --key-out "$1/tls.key" > "$1/tls.crt" 2>/dev/null
  openssl x509 -in "$1/tls.crt" -noout -serial | cut -d= -f2
}
swap() { # swap SECRET GENDIR: Kubernetes-style ..data swap
  local old; old=$(readlink "$1/..data" 2>/dev/null)
  ln -s "$(basename "$2")" "$1/..data_tmp" && mv -T "$1/..data_tmp" "$1/..data"
  [ -e "$1/tls.crt" ] || ln -s ..data/tls.crt "$1/tls.crt"
  [ -e "$1/tls.key" ] || ln -s ..data/tls.key "$1/tls.key"
  [ -n "$old" ] && rm -rf "${1:?}/$old"
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
served() { # served PORT: the serial a verifying client gets
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -verify_return_error \
    -CAfile "$tmp/ca/ca.crt" < /dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
wait_serial() { # wait_serial PORT SERIAL: bounded
  for _ in $(seq 100); do [ "$(served "$1")" = "$2" ] && return 0; sleep 0.05; done
  return 1
}
wait_up() { for _ in $(seq 100); do [ -n "$(served "$1")" ] && return 0; sleep 0.05; done; return 1; }

# ---- openssl s_server, identity named with --dir ----------------------------
s="$tmp/secret"; mkdir -p "$s"
g1=$(gen "$s/..g1"); swap "$s" "$s/..g1"
port=$(free_port)
"$bin" exec --dir "$s" --log "$tmp/shim.log" --shim "$shim" -- \
  openssl s_server -accept "127.0.0.1:$port" -cert "$s/tls.crt" -key "$s/tls.key" -www -quiet \
  > /dev/null 2>&1 &
pids+=($!)
wait_up "$port" && [ "$(served "$port")" = "$g1" ] && ok "s_server under freshtls exec serves generation 1" \
  || bad "s_server did not serve $g1"
for i in 2 3 4; do
  gi=$(gen "$s/..g$i"); swap "$s" "$s/..g$i"
  wait_serial "$port" "$gi" && ok "rotation $i served on the next handshake, no restart, no signal" \
    || bad "rotation $i not served (got $(served "$port"))"
done
# A swap to a key that does not match: never served, the previous stays.
mkdir -p "$s/..bad"; gen "$s/..bad" >/dev/null
cp "$s/..g4/tls.crt" "$s/..bad/tls.crt"   # g4's certificate with another key
swap "$s" "$s/..bad"
for _ in $(seq 100); do grep -q 'rejected' "$tmp/shim.log" && break; sleep 0.05; done
[ "$(served "$port")" = "$gi" ] && ok "a mismatched key is not served: generation 4 stays" || bad "mismatch served"
grep -q '^freshtls-preload: .*rejected .*does not match' "$tmp/shim.log" \
  && ok "the shim's log says why" || bad "no rejection logged: $(cat "$tmp/shim.log")"

# ---- openssl s_server with --cert/--key, and --client-ca for its clients ----
e="$tmp/explicit"; g1=$(gen "$e")
"$bin" ca init --out "$tmp/clientca" >/dev/null
"$bin" ca init --out "$tmp/strangers" >/dev/null
mkdir -p "$tmp/cl" "$tmp/cl2"
client_cert() { # client_cert CADIR OUTDIR: a clientAuth certificate
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$2/k" \
    -out "$2/csr" -subj /CN=client.example 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' > "$2/ext"
  openssl x509 -req -in "$2/csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
    -out "$2/c" -days 2 -extfile "$2/ext" 2>/dev/null
}
client_cert "$tmp/clientca" "$tmp/cl"; client_cert "$tmp/strangers" "$tmp/cl2"
port=$(free_port)
"$bin" exec --cert "$e/tls.crt" --key "$e/tls.key" --client-ca "$tmp/clientca/ca.crt" \
  --log "$tmp/shim7.log" --shim "$shim" -- \
  openssl s_server -accept "127.0.0.1:$port" -cert "$e/tls.crt" -key "$e/tls.key" \
  -Verify 1 -verify_return_error -www -quiet > /dev/null 2>&1 &
pids+=($!)
mtls() { # mtls DIR: 0 when the server accepts DIR's client certificate
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -connect "127.0.0.1:$port" \
    -servername localhost -CAfile "$tmp/ca/ca.crt" -cert "$1/c" -key "$1/k" -quiet 2>/dev/null |
    grep -q 'HTTP/1.0 200'
}
for _ in $(seq 100); do mtls "$tmp/cl" && break; sleep 0.05; done
mtls "$tmp/cl" && ok "s_server with --client-ca accepts a client of that CA" || bad "--client-ca: accepted client refused"
mtls "$tmp/cl2" && bad "--client-ca: a stranger was accepted" || ok "s_server with --client-ca refuses another CA's client"
mkdir -p "$tmp/next4"; g2=$(gen "$tmp/next4")
mv "$tmp/next4/tls.key" "$e/tls.key.new"; mv "$tmp/next4/tls.crt" "$e/tls.crt.new"
mv "$e/tls.key.new" "$e/tls.key"; mv "$e/tls.crt.new" "$e/tls.crt"
served_mtls() {
  timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$tmp/ca/ca.crt" \
    -cert "$tmp/cl/c" -key "$tmp/cl/k" < /dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
for _ in $(seq 100); do [ "$(served_mtls)" = "$g2" ] && break; sleep 0.05; done
[ "$(served_mtls)" = "$g2" ] && ok "s_server with --cert/--key serves the rotated certificate" \
  || bad "--cert/--key rotation (got $(served_mtls), want $g2)"

# A trust server for the client cases below (Python's and s_client's).
t="$tmp/trustsrv"; gen "$t" >/dev/null
tport=$(free_port)
openssl s_server -accept "127.0.0.1:$tport" -cert "$t/tls.crt" -key "$t/tls.key" -www -quiet >/dev/null 2>&1 &
pids+=($!)
wait_up "$tport"
"$bin" ca init --out "$tmp/other" >/dev/null

# Python's ssl must use the OpenSSL the shim was built for. Where it does
# not (OpenSSL 4.0 from experimental beside Python's 3.x), the shim must say
# so and stay inert; the Python cases are then not run.
pymajor=$("$py" -c 'import ssl; print(ssl.OPENSSL_VERSION_INFO[0])')
shimmajor=$(openssl version | awk '{ split($2, v, "."); print v[1] }')
if [ "$pymajor" != "$shimmajor" ]; then
  # Python's calls carry OpenSSL $pymajor's symbol versions: they never
  # reach the shim, and Python works exactly as without it.
  out=$("$bin" exec --log "$tmp/shim8.log" --shim "$shim" -- "$py" -c \
    'import ssl; c = ssl.create_default_context(); c.load_default_certs(); print("fine")' 2>&1)
  [ "$out" = fine ] && ok "python on OpenSSL $pymajor, shim on $shimmajor: left alone, works as without it" \
    || bad "python with another OpenSSL major: $out"
  echo "# python's OpenSSL major differs from the shim's: the Python cases are not run"
else
# ---- Python's ssl: the program's own files (load_cert_chain) ----------------
p="$tmp/pyfiles"; g1=$(gen "$p")
port=$(free_port)
cat > "$tmp/srv.py" <<'PY'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    c, _ = ls.accept()
    try:
        with ctx.wrap_socket(c, server_side=True) as t:
            t.recv(1)
    except (OSError, ssl.SSLError):
        pass
PY
"$bin" exec --log "$tmp/shim2.log" --shim "$shim" -- "$py" "$tmp/srv.py" "$port" "$p/tls.crt" "$p/tls.key" \
  > /dev/null 2>&1 &
pids+=($!)
wait_up "$port" && [ "$(served "$port")" = "$g1" ] && ok "python ssl under freshtls exec" || bad "python server"
mkdir -p "$tmp/next"; g2=$(gen "$tmp/next")
mv "$tmp/next/tls.key" "$p/tls.key.new"; mv "$tmp/next/tls.crt" "$p/tls.crt.new"
mv "$p/tls.key.new" "$p/tls.key"; mv "$p/tls.crt.new" "$p/tls.crt"
wait_serial "$port" "$g2" && ok "python's own certificate files followed (rename-over)" \
  || bad "python: rotation not served (got $(served "$port"))"

# ---- a pre-forking server: workers follow changes too ---------------------
f="$tmp/forking"; g1=$(gen "$f")
port=$(free_port)
cat > "$tmp/prefork.py" <<'PY'
import os, signal, socket, ssl, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # so finally runs
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.create_server(("127.0.0.1", int(sys.argv[1])))
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            c, _ = ls.accept()
            try:
                with ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(1)
            except (OSError, ssl.SSLError):
                pass
    kids.append(pid)
try:
    os.wait()
finally:
    for k in kids:
        os.kill(k, 9)
PY
"$bin" exec --log "$tmp/shim3.log" --shim "$shim" -- "$py" "$tmp/prefork.py" "$port" "$f/tls.crt" "$f/tls.key" \
  > /dev/null 2>&1 &
pids+=($!)
wait_up "$port" && [ "$(served "$port")" = "$g1" ] && ok "pre-forking python server (2 workers)" || bad "prefork server"
for _ in 1 2 3 4; do served "$port" >/dev/null; done   # both workers have handled one
mkdir -p "$tmp/next3"; g2=$(gen "$tmp/next3")
mv "$tmp/next3/tls.key" "$f/tls.key.new"; mv "$tmp/next3/tls.crt" "$f/tls.crt.new"
mv "$f/tls.key.new" "$f/tls.key"; mv "$f/tls.crt.new" "$f/tls.crt"
sleep 0.5
all=1
for _ in 1 2 3 4 5 6; do [ "$(served "$port")" = "$g2" ] || all=0; done
[ $all = 1 ] && ok "every worker serves the rotated certificate" \
  || bad "a worker kept the old certificate: $(cat "$tmp/shim3.log")"

# ---- workers that drop privileges still follow a root-only key: the
# parent, which can read it, hands each validated generation over.
if [ "$(id -u)" = 0 ]; then
  d="$tmp/dropper"; g1=$(gen "$d"); chmod 0600 "$d/tls.key"; chmod 0755 "$tmp" "$d"
  port=$(free_port)
  sed 's/^    if pid == 0:$/    if pid == 0:\n        os.setgid(65534); os.setuid(65534)/' "$tmp/prefork.py" > "$tmp/dropper.py"
  "$bin" exec --log "$tmp/shim4.log" --shim "$shim" -- "$py" "$tmp/dropper.py" "$port" "$d/tls.crt" "$d/tls.key" \
    > /dev/null 2>&1 &
  pids+=($!)
  wait_up "$port" && [ "$(served "$port")" = "$g1" ] && ok "workers running as nobody serve generation 1" \
    || bad "dropper: generation 1"
  for i in 2 3; do
    mkdir -p "$tmp/nd$i"; gi=$(gen "$tmp/nd$i")
    install -m 0600 "$tmp/nd$i/tls.key" "$d/tls.key.new"; mv "$tmp/nd$i/tls.crt" "$d/tls.crt.new"
    mv "$d/tls.key.new" "$d/tls.key"; mv "$d/tls.crt.new" "$d/tls.crt"
    all=1
    for _ in 1 2 3 4 5 6; do wait_serial "$port" "$gi" || all=0; done
    [ $all = 1 ] && ok "rotation $i of a 0600 root key reaches workers running as nobody" \
      || bad "dropper rotation $i: $(cat "$tmp/shim4.log")"
  done
else
  echo "# not root: the privilege-drop case is not exercised"
fi

# ---- trust: a long-running Python client (create_default_context, the
# system store = SSL_CERT_DIR) trusts a root added to the directory and
# drops a removed one, on its next connection.
cd_dir="$tmp/certdir"; mkdir -p "$cd_dir"
cp "$tmp/other/ca.crt" "$cd_dir/other.pem"
cat > "$tmp/client.py" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context()
end = time.monotonic() + 25
while time.monotonic() < end:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                print("ok", flush=True)
    except (OSError, ssl.SSLError):
        print("fail", flush=True)
    time.sleep(0.1)
PY
SSL_CERT_DIR="$cd_dir" "$bin" exec --log "$tmp/shim5.log" --shim "$shim" -- \
  "$py" "$tmp/client.py" "$tport" > "$tmp/client.out" 2>&1 &
cpid=$!; pids+=($cpid)
sleep 1
before=$(tail -1 "$tmp/client.out")
cp "$tmp/ca/ca.crt" "$cd_dir/test-ca.pem"
for _ in $(seq 100); do [ "$(tail -1 "$tmp/client.out")" = ok ] && break; sleep 0.05; done
added=$(tail -1 "$tmp/client.out")
rm -f "$cd_dir/test-ca.pem"
for _ in $(seq 100); do [ "$(tail -1 "$tmp/client.out")" = fail ] && break; sleep 0.05; done
removed=$(tail -1 "$tmp/client.out")
kill "$cpid" 2>/dev/null
[ "$before" = fail ] && [ "$added" = ok ] && [ "$removed" = fail ] \
  && ok "python client: a root added to SSL_CERT_DIR is trusted, a removed one dropped, no restart" \
  || bad "python trust: before=$before added=$added removed=$removed; $(cat "$tmp/shim5.log")"

fi

# openssl s_client, one process per connection, with --roots FILE.
sc() { echo | "$bin" exec --shim "$shim" --roots "$1" -- openssl s_client -connect "127.0.0.1:$tport" \
         -servername localhost -verify_return_error -verify 2 2>&1 | grep -q 'Verify return code: 0 (ok)'; }
sc "$tmp/ca/ca.crt" && ok "s_client with --roots (the test CA) verifies" || bad "s_client --roots"
sc "$tmp/other/ca.crt" && bad "s_client verified against the wrong roots" \
  || ok "s_client with --roots (another CA) refuses"

# ---- the program's own callbacks are chained, not stolen -------------------
if [ -n "$cbprog" ]; then
  c="$tmp/cbs"; gen "$c" >/dev/null
  out=$("$bin" exec --log "$tmp/shim6.log" --shim "$shim" -- "$cbprog" "$c/tls.crt" "$c/tls.key" "$tmp/ca/ca.crt")
  # cert_cb set before the attachment runs on the first handshake, the one
  # set after it on the second; info and servername callbacks on both.
  [ "$out" = "handshakes=2 cert1=1 cert2=1 info=2 sni=2" ] && grep -q 'attached a server context' "$tmp/shim6.log" \
    && ok "certificate, info and servername callbacks set before and after attaching all run" \
    || bad "callbacks: $out; $(cat "$tmp/shim6.log")"
  plain=$("$cbprog" "$c/tls.crt" "$c/tls.key" "$tmp/ca/ca.crt")
  [ "$plain" = "$out" ] && ok "the same counts as without the shim" || bad "plain run: $plain"
fi

# ---- a statically linked OpenSSL is reported, not silently ignored ----------
if [ -n "$staticprog" ]; then
  out=$("$bin" exec --shim "$shim" -- "$staticprog" 2>&1)
  grep -q 'carries OpenSSL inside its executable' <<<"$out" \
    && ok "a program with OpenSSL linked statically is reported" || bad "static: $out"
  out=$("$bin" exec --shim "$shim" -- "$py" -c 'import ssl' 2>&1)
  [ -z "$out" ] && ok "no such report for a dynamic program (python)" || bad "python: $out"
else
  echo "# no libssl.a here: the statically linked case is not exercised"
fi

# ---- inert without freshtls exec ----------------------------------------------
q="$tmp/inert"; g1=$(gen "$q")
port=$(free_port)
LD_PRELOAD="$shim" openssl s_server -accept "127.0.0.1:$port" -cert "$q/tls.crt" -key "$q/tls.key" \
  -www -quiet > /dev/null 2> "$tmp/inert.err" &
pids+=($!)
wait_up "$port"
mkdir -p "$tmp/next2"; gen "$tmp/next2" >/dev/null
cp "$tmp/next2/tls.key" "$q/tls.key"; cp "$tmp/next2/tls.crt" "$q/tls.crt"
sleep 0.5
[ "$(served "$port")" = "$g1" ] && ! grep -q freshtls-preload "$tmp/inert.err" \
  && ok "LD_PRELOAD without freshtls exec changes nothing" || bad "the shim acted without FRESHTLS_EXEC"

out=$("$bin" exec --shim "$shim" -- echo plain 2>&1)
[ "$out" = plain ] && ok "a program without TLS behaves exactly as without the shim" || bad "no-TLS program: $out"
"$bin" exec --shim "$shim" -- /nonexistent/program 2>/dev/null; rc=$?
[ $rc -eq 127 ] && ok "a program that cannot run: exit 127" || bad "exit $rc"
"$bin" exec --shim "$shim" -- sh -c 'exit 7'; rc=$?
[ $rc -eq 7 ] && ok "the program's exit status is freshtls exec's" || bad "exit $rc"

finish
