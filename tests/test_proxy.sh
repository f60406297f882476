#!/usr/bin/env bash
# freshtls proxy with real clients and real upstreams, all on loopback.
# Upstreams: openssl s_server (HTTP/1.1 ALPN; expired, wrong-host and
# unknown-CA variants), freshtls serve, a Python HTTPS server, nghttpd
# (HTTP/2). Clients: curl (HTTP/1.1 and --http2), Python urllib, Go
# net/http, headless Chromium with the CA in its NSS database, openssl
# s_client, and `freshtls proxy --exec -- curl`. Every name is mapped with
# --resolve (or denied before resolution), so no lookup leaves the host.
set -u
bin=${1:?usage: test_proxy.sh path/to/freshtls}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# ---- PKI and upstreams -----------------------------------------------------
mkca UP; mkca EVIL; mkca SYS
names="DNS:a.test,DNS:b.test,DNS:c.test,DNS:py.test,DNS:h2.test,DNS:reload.test,DNS:serve.test,DNS:big.test,IP:127.0.0.1"
mkleaf UP good "$names"
mkleaf UP expired "DNS:exp.test" -1
mkleaf EVIL evil "DNS:evil.test"
mkleaf SYS sysleaf "DNS:sys.test"
cp "$tmp/SYS.crt" "$tmp/sysroots.pem"; mkdir -p "$tmp/emptydir" # the proxy's "system" store

sserver() { # sserver VAR CERT [ARGS...]: openssl s_server -www on a free port
  local var=$1 cert=$2; shift 2
  (cd "$tmp" && exec openssl s_server -accept 127.0.0.1:0 -cert "$tmp/$cert.crt" \
    -key "$tmp/$cert.key" "$@") > "$tmp/$var.log" 2>&1 < /dev/null &
  pids+=($!)
  wait_grep '^ACCEPT' "$tmp/$var.log" || { bad "s_server $var did not start"; finish; }
  printf -v "$var" '%s' "$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmp/$var.log")"
}
sserver U1 good -www -alpn http/1.1
sserver U2 expired -www
sserver U3 evil -www
sserver U7 sysleaf -www
head -c 8388608 /dev/urandom > "$tmp/big.bin"
sserver U8 good -WWW

cat > "$tmp/pyserver.py" <<'PY'
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>hello from the python upstream</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.set_alpn_protocols(["http/1.1"])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$tmp/pyserver.py" "$tmp/good.crt" "$tmp/good.key" > "$tmp/py.log" 2>&1 &
pids+=($!); wait_grep listening "$tmp/py.log"; U5=$(port_of "$tmp/py.log")

mkdir -p "$tmp/serve"; cp "$tmp/good.crt" "$tmp/serve/tls.crt"; cp "$tmp/good.key" "$tmp/serve/tls.key"
"$bin" serve --dir "$tmp/serve" --listen 127.0.0.1:0 > "$tmp/serve.log" 2>&1 &
pids+=($!); wait_grep listening "$tmp/serve.log"; U6=$(port_of "$tmp/serve.log")

U4=""
if command -v nghttpd > /dev/null; then
  mkdir -p "$tmp/www"; echo "hello over h2" > "$tmp/www/index.html"
  U4=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  nghttpd -a 127.0.0.1 -d "$tmp/www" "$U4" "$tmp/good.key" "$tmp/good.crt" > /dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$U4") 2>/dev/null && break; sleep 0.05; done
fi

# ---- the proxy under test ---------------------------------------------------
maps=()
for n in a b c py h2 reload serve exp evil wrong sys tunnel big; do
  for p in $U1 $U2 $U3 $U5 $U6 $U7 $U8 ${U4:-}; do maps+=(--resolve "$n.test:$p:127.0.0.1"); done
done
maps+=(--resolve "inside.test:$U1:10.9.9.9")
printf '# reloaded on SIGHUP\ndeny reload.test\n' > "$tmp/rules"
SSL_CERT_FILE="$tmp/sysroots.pem" SSL_CERT_DIR="$tmp/emptydir" \
  "$bin" proxy --listen 127.0.0.1:0 --upstream-ca "$tmp/UP.crt" "${maps[@]}" \
  --deny 'denied.test' --deny 10.0.0.0/8 --tunnel 'tunnel.*' --rules "$tmp/rules" \
  --audit "$tmp/audit.log" --keylog "$tmp/keys.log" --max-conns 64 \
  --handshake-timeout 3 --idle-timeout 10 > "$tmp/p1.out" 2> "$tmp/p1.err" &
P1PID=$!; pids+=($P1PID)
wait_grep 'listening on' "$tmp/p1.err" || { bad "proxy did not start"; cat "$tmp/p1.err"; finish; }
P1=$(port_of "$tmp/p1.err"); CA=$(sed -n 's/.*interception CA: //p' "$tmp/p1.err")
[ -s "$CA" ] && ok "ephemeral CA written to $CA" || bad "no CA path printed"

px() { curl -sS --max-time 10 -x "http://127.0.0.1:$P1" --cacert "$CA" "$@"; }
audit() { # audit TARGET FIELD: FIELD of the newest audit line for TARGET
  python3 - "$tmp/audit.log" "$1" "$2" <<'PY'
import json, sys
v = None
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["target"] == sys.argv[2]:
        v = e.get(sys.argv[3])
print("" if v is None else v)
PY
}

# ---- interception with real clients ----------------------------------------
out=$(px "https://a.test:$U1/" 2>&1)
echo "$out" | grep -q 's_server' && ok "curl through the proxy reaches s_server" || bad "curl: $out"
[ "$(audit "a.test:$U1" leaf)" = mint ] && ok "audit: first leaf minted" || bad "audit leaf: $(audit "a.test:$U1" leaf)"
px "https://a.test:$U1/" > /dev/null 2>&1
[ "$(audit "a.test:$U1" leaf)" = hit ] && ok "audit: second connection hit the cache" || bad "no cache hit"
[ "$(audit "a.test:$U1" upstream_verify)" = ok ] && ok "audit: upstream verified" || bad "upstream_verify"
python3 - "$tmp/audit.log" <<'PY' && ok "audit lines carry every field" || bad "audit fields"
import json, sys
need = {"time", "client", "target", "sni", "action", "rule", "leaf", "upstream",
        "upstream_verify", "upstream_resumed", "alpn", "bytes_up", "bytes_down", "duration_ms", "error"}
e = [json.loads(l) for l in open(sys.argv[1])][-1]
sys.exit(0 if need <= set(e) and e["bytes_down"] > 0 and e["bytes_up"] > 0 else 1)
PY
issuer=$(openssl s_client -proxy "127.0.0.1:$P1" -connect "b.test:$U1" -servername b.test \
  -CAfile "$CA" -verify_return_error < /dev/null 2>/dev/null | openssl x509 -noout -issuer -ext subjectAltName 2>/dev/null)
echo "$issuer" | grep -q 'freshtls proxy ephemeral CA' && echo "$issuer" | grep -q 'DNS:b.test' \
  && ok "s_client via -proxy: leaf for b.test from the interception CA" || bad "s_client leaf: $issuer"

v=$(px -v --http2 -o /dev/null "https://a.test:$U1/" 2>&1 | grep -i 'ALPN.*accepted')
echo "$v" | grep -q 'http/1.1' && ok "curl --http2 to an HTTP/1.1-only upstream gets http/1.1" || bad "alpn h1: $v"
[ "$(audit "a.test:$U1" alpn)" = http/1.1 ] && ok "audit: alpn http/1.1" || bad "audit alpn"
if [ -n "$U4" ]; then
  v=$(px --http2 -o "$tmp/h2.out" -w '%{http_version}' "https://h2.test:$U4/" 2>&1)
  [ "$v" = 2 ] && grep -q 'hello over h2' "$tmp/h2.out" && ok "curl --http2 end to end with nghttpd (h2)" || bad "h2: $v"
  [ "$(audit "h2.test:$U4" alpn)" = h2 ] && ok "audit: alpn h2" || bad "audit alpn h2"
else
  skip "HTTP/2: nghttpd not installed (Debian nghttp2-server)"
fi
px "https://serve.test:$U6/" 2>&1 | grep -q 'serial=' && ok "through the proxy to freshtls serve" || bad "serve upstream"

out=$(HTTPS_PROXY="http://127.0.0.1:$P1" SSL_CERT_FILE="$CA" python3 -c "
import urllib.request
print(urllib.request.urlopen('https://py.test:$U5/', timeout=10).read().decode())" 2>&1)
echo "$out" | grep -q 'python upstream' && ok "Python urllib with HTTPS_PROXY" || bad "urllib: $out"

if command -v go > /dev/null; then
  cat > "$tmp/client.go" <<'GO'
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	resp, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Proto, string(b))
}
GO
  out=$(cd "$tmp" && HOME="$tmp" GOCACHE="$tmp/gocache" GOPATH="$tmp/gopath" GOFLAGS= GO111MODULE=off \
    HTTPS_PROXY="http://127.0.0.1:$P1" SSL_CERT_FILE="$CA" timeout 120 go run client.go "https://py.test:$U5/" 2>&1)
  echo "$out" | grep -q 'python upstream' && ok "Go net/http with HTTPS_PROXY" || bad "go: $out"
else
  skip "Go client: go not installed (Debian golang-go)"
fi

# ---- negative cases ----------------------------------------------------------
neg() { # neg WHAT TARGET URL PATTERN: the client fails, the audit says why
  local out; out=$(px "$3" 2>&1) && { bad "$1: client succeeded"; return; }
  local why; why="$(audit "$2" upstream_verify) $(audit "$2" error)"
  echo "$why" | grep -qiE "$4" && ok "$1 (client: ${out##*curl: }; audit: $why)" || bad "$1: audit says '$why'"
}
neg "expired upstream refused" "exp.test:$U2" "https://exp.test:$U2/" 'expired'
neg "wrong-host upstream refused" "wrong.test:$U1" "https://wrong.test:$U1/" 'hostname mismatch'
neg "unknown-CA upstream refused" "evil.test:$U3" "https://evil.test:$U3/" 'local issuer|self.signed'
out=$(px "https://denied.test:443/" 2>&1); echo "$out" | grep -q 403 \
  && [ "$(audit denied.test:443 action)" = deny ] && ok "deny rule: 403 and audited" || bad "deny: $out"
for t in 10.1.2.3 167837955 012.1.2.3 "[::ffff:10.1.2.3]"; do
  r=$(printf 'CONNECT %s:443 HTTP/1.1\r\n\r\n' "$t" | timeout 5 python3 -c "
import socket,sys; s=socket.create_connection(('127.0.0.1',$P1)); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode(errors='replace').splitlines()[0])")
  [[ "$r" == *403* ]] && ok "CIDR deny holds for target $t" || bad "CIDR deny $t: $r"
done
out=$(px "https://inside.test:$U1/" 2>&1); echo "$out" | grep -q 403 \
  && ok "a name resolving into a denied block: 403" || bad "resolved deny: $out"
s=$(openssl s_client -proxy "127.0.0.1:$P1" -connect "tunnel.test:$U1" -servername a.test < /dev/null 2>/dev/null \
  | openssl x509 -noout -issuer 2>/dev/null)
echo "$s" | grep -qE 'CN ?= ?UP' && [ "$(audit "tunnel.test:$U1" action)" = tunnel ] \
  && ok "tunnel rule: the client sees the upstream's own certificate" || bad "tunnel: $s"
openssl s_client -proxy "127.0.0.1:$P1" -connect "a.test:$U1" -servername c.test -CAfile "$CA" \
  < /dev/null > "$tmp/mismatch.out" 2>&1
! grep -q 'BEGIN CERTIFICATE' "$tmp/mismatch.out" && audit "a.test:$U1" error | grep -q 'SNI differs' \
  && ok "SNI other than the CONNECT host refused" || bad "SNI mismatch: $(audit "a.test:$U1" error)"
out=$(px "https://127.0.0.1:$U1/" 2>&1)
[ $? != 0 ] && audit "127.0.0.1:$U1" error | grep -q 'allow-ip' && ok "IP target without --allow-ip refused" || bad "ip: $out"
raw() { printf "$1" | timeout 5 python3 -c "
import socket,sys; s=socket.create_connection(('127.0.0.1',$P1)); s.sendall(sys.stdin.buffer.read()); print(s.recv(200).decode(errors='replace').splitlines()[0])" 2>&1; }
r=$(raw 'GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n'); [[ "$r" == *" 405 "* ]] && ok "GET answered 405" || bad "GET: $r"
r=$(raw '\x16\x03\x01\x00\xf4garbage\r\n\r\n'); [[ "$r" == *" 400 "* ]] && ok "garbage answered 400" || bad "garbage: $r"
r=$(raw 'CONNECT a.test:99999 HTTP/1.1\r\n\r\n'); [[ "$r" == *" 400 "* ]] && ok "bad port answered 400" || bad "port: $r"
r=$(raw 'CONNECT a..test:443 HTTP/1.1\r\n\r\n'); [[ "$r" == *" 400 "* ]] && ok "bad host answered 400" || bad "host: $r"

# ---- rules file on SIGHUP, system roots refreshed, keylog -------------------
out=$(px "https://reload.test:$U1/" 2>&1); echo "$out" | grep -q 403 && ok "rules file: reload.test denied" || bad "rules: $out"
printf 'intercept reload.test\n' > "$tmp/rules"; kill -HUP "$P1PID"
wait_grep 'rules loaded' "$tmp/p1.err"
px "https://reload.test:$U1/" 2>&1 | grep -q s_server && ok "SIGHUP: new rules apply" || bad "rules after SIGHUP"
printf 'bogus reload.test\n' > "$tmp/rules"; kill -HUP "$P1PID"
wait_grep 'not reloaded' "$tmp/p1.err" && px "https://reload.test:$U1/" 2>&1 | grep -q s_server \
  && ok "SIGHUP with a broken rules file: previous rules stay, logged" || bad "broken rules"
px "https://sys.test:$U7/" 2>&1 | grep -q s_server && px "https://a.test:$U1/" 2>&1 | grep -q s_server \
  && ok "upstream trust: system roots plus --upstream-ca (added, not replacing)" || bad "system + extra"
px "https://sys.test:$U7/" > /dev/null 2>&1
[ "$(audit "sys.test:$U7" upstream_resumed)" = True ] && ok "upstream session resumed on the next connection" \
  || bad "upstream session not resumed"
cp "$tmp/EVIL.crt" "$tmp/sysroots.pem"; kill -HUP "$P1PID"; sleep 0.5
neg "removed system root takes effect after refresh, resumable session or not" "sys.test:$U7" "https://sys.test:$U7/" 'local issuer'
[ "$(grep -c CLIENT_HANDSHAKE_TRAFFIC_SECRET "$tmp/keys.log")" -ge 2 ] && [ "$(stat -c %a "$tmp/keys.log")" = 600 ] \
  && ok "keylog: NSS lines for both legs, mode 0600" || bad "keylog"

# ---- back-pressure: a slow reader of a fast upstream -------------------------
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
if [ -n "${FTLS_SANITIZED:-}" ]; then
  skip "back-pressure RSS check under the $FTLS_SANITIZED sanitizer (it measures shadow memory)"
else
  before=$(rss "$P1PID")
  curl -sS --max-time 4 --limit-rate 64K -x "http://127.0.0.1:$P1" --cacert "$CA" -o /dev/null \
    "https://big.test:$U8/big.bin" 2> /dev/null &
  cp=$!; peak=$before
  for _ in $(seq 30); do sleep 0.1; r=$(rss "$P1PID"); [ "${r:-0}" -gt "$peak" ] && peak=$r; done
  wait $cp
  [ $((peak - before)) -lt 3072 ] && ok "slow reader of an 8 MiB download: proxy RSS +$((peak - before)) KiB" \
    || bad "back-pressure: RSS grew by $((peak - before)) KiB"
fi

# ---- abuse: idle connections at the cap, slowloris ---------------------------
python3 "$here/serve_abuse.py" idle "$P1" 500 5 > "$tmp/idle.out" &
ap=$!; wait_grep '^ready' "$tmp/idle.out"
px "https://a.test:$U1/" 2>&1 | grep -q s_server && ok "500 idle connections (cap 64): a good client is served" || bad "good client under idle flood"
fds=$(ls /proc/$P1PID/fd | wc -l)
[ "$fds" -le 160 ] && ok "the cap holds: $fds descriptors" || bad "descriptors: $fds"
wait $ap; grep -q closed_by_server "$tmp/idle.out" && ok "idle flood: $(cat "$tmp/idle.out" | tail -1)" || bad "idle"
python3 "$here/serve_abuse.py" slowloris "$P1" 40 5 > "$tmp/slow.out"
n=$(sed -n 's/closed_by_server \([0-9]*\) of.*/\1/p' "$tmp/slow.out")
[ "${n:-0}" -ge 40 ] && ok "slowloris: all 40 cut at the 3 s deadline" || bad "slowloris: $(cat "$tmp/slow.out")"
kill -0 "$P1PID" && ok "proxy still running after the abuse" || bad "proxy died"

# ---- IPv6 listener, --allow-ip ----------------------------------------------
"$bin" proxy --listen '[::1]:0' --upstream-ca "$tmp/UP.crt" --allow-ip --audit "$tmp/p2.audit" \
  --allow-sni-mismatch --deny c.test 2> "$tmp/p2.err" &
pids+=($!)
if wait_grep 'listening on' "$tmp/p2.err"; then
  P2=$(port_of "$tmp/p2.err"); CA2=$(sed -n 's/.*interception CA: //p' "$tmp/p2.err")
  out=$(curl -sS --max-time 10 -x "http://[::1]:$P2" --cacert "$CA2" "https://127.0.0.1:$U1/" 2>&1)
  echo "$out" | grep -q s_server && ok "IPv6 listener; IP target with --allow-ip (IP leaf)" || bad "allow-ip: $out"
  # CONNECT to an address with the name in SNI: the name is what is checked.
  s=$(openssl s_client -proxy "[::1]:$P2" -connect "127.0.0.1:$U1" -servername a.test -CAfile "$CA2" \
    -verify_hostname a.test -verify_return_error < /dev/null 2>&1)
  echo "$s" | grep -q 'Verify return code: 0' && grep -q '"sni":"a.test".*"upstream_verify":"ok"' "$tmp/p2.audit" \
    && ok "--allow-sni-mismatch: leaf and upstream verification for the SNI name" || bad "sni mismatch allowed: $s"
  openssl s_client -proxy "[::1]:$P2" -connect "127.0.0.1:$U1" -servername c.test -CAfile "$CA2" \
    < /dev/null > /dev/null 2>&1
  grep -q '"sni":"c.test".*"error":"SNI denied by policy"' "$tmp/p2.audit" \
    && ok "--allow-sni-mismatch: the SNI name meets the rules (denied)" || bad "sni policy: $(tail -1 "$tmp/p2.audit")"
  openssl s_client -proxy "[::1]:$P2" -connect "127.0.0.1:$U1" -servername wrong.test -CAfile "$CA2" \
    < /dev/null > /dev/null 2>&1 # the address would verify (IP SAN); the name does not
  grep -q '"sni":"wrong.test".*"upstream_verify":"hostname mismatch"' "$tmp/p2.audit" \
    && ok "--allow-sni-mismatch: the upstream is verified for the SNI name, not the address" \
    || bad "sni verify: $(tail -1 "$tmp/p2.audit")"
else
  skip "IPv6 loopback not available"
fi

# ---- SIGTERM while a transfer runs ---------------------------------------------
"$bin" proxy --listen 127.0.0.1:0 --upstream-ca "$tmp/UP.crt" --resolve "big.test:$U8:127.0.0.1" \
  --idle-timeout 20 --audit "$tmp/p3.audit" 2> "$tmp/p3.err" &
P3PID=$!; pids+=($P3PID)
wait_grep 'listening on' "$tmp/p3.err"; P3=$(port_of "$tmp/p3.err"); CA3=$(sed -n 's/.*interception CA: //p' "$tmp/p3.err")
curl -sS --max-time 30 --limit-rate 3M -x "http://127.0.0.1:$P3" --cacert "$CA3" -o "$tmp/big.out" \
  "https://big.test:$U8/big.bin" 2> "$tmp/big.err" &
cp=$!
sleep 1; kill -TERM "$P3PID"; wait "$P3PID"; prc=$?; wait $cp; crc=$?
[ $prc = 0 ] && [ $crc = 0 ] && cmp -s "$tmp/big.bin" "$tmp/big.out" \
  && ok "SIGTERM mid-transfer: the transfer completes (8 MiB intact), exit 0" || bad "SIGTERM: proxy $prc curl $crc $(cat "$tmp/big.err")"

# ---- --exec --------------------------------------------------------------------
out=$(env -u SSL_CERT_FILE -u CURL_CA_BUNDLE "$bin" proxy --listen 127.0.0.1:0 --upstream-ca "$tmp/UP.crt" \
  --resolve "a.test:$U1:127.0.0.1" --exec -- curl -sS --max-time 10 "https://a.test:$U1/" 2> "$tmp/exec.err")
rc=$?
[ $rc = 0 ] && echo "$out" | grep -q s_server && ok "proxy --exec -- curl needs no flags" || bad "exec: rc=$rc $(cat "$tmp/exec.err")"
"$bin" proxy --listen 127.0.0.1:0 --exec -- sh -c 'test -r "$SSL_CERT_FILE" && [ "$NODE_EXTRA_CA_CERTS" = "$REQUESTS_CA_BUNDLE" ] && exit 7' 2> /dev/null
[ $? = 7 ] && ok "--exec: the child's status is the proxy's; CA variables set" || bad "exec status"

# ---- Chromium ------------------------------------------------------------------
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ] && command -v certutil > /dev/null; then
  "$bin" proxy --listen 127.0.0.1:0 --upstream-ca "$tmp/UP.crt" "${maps[@]}" --default deny \
    --intercept 'a.test' --intercept 'b.test' --intercept 'c.test' --audit "$tmp/p4.audit" 2> "$tmp/p4.err" &
  pids+=($!); wait_grep 'listening on' "$tmp/p4.err"
  P4=$(port_of "$tmp/p4.err"); CA4=$(sed -n 's/.*interception CA: //p' "$tmp/p4.err")
  home="$tmp/chrome-home"; mkdir -p "$home/.pki/nssdb"
  certutil -N -d "sql:$home/.pki/nssdb" --empty-password
  certutil -A -d "sql:$home/.pki/nssdb" -t "C,," -n freshtls-proxy -i "$CA4"
  for h in a b c; do
    out=$(HOME="$home" timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$tmp/chrome-$h" --proxy-server="http://127.0.0.1:$P4" \
      --dump-dom "https://$h.test:$U5/" 2> "$tmp/chrome-$h.err")
    echo "$out" | grep -q 'python upstream' && ok "Chromium loads https://$h.test through the proxy (NSS trust)" \
      || bad "Chromium $h.test: $(tail -3 "$tmp/chrome-$h.err")"
  done
else
  skip "Chromium: chromium or certutil not installed (Debian chromium, libnss3-tools)"
fi
finish
