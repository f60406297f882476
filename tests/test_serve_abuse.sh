#!/usr/bin/env bash
# freshtls serve as an operator runs it and as an attacker meets it, on
# loopback, bounded in count and time:
#   - idle connections far past --max-conns, a slowloris ClientHello, and
#     descriptor exhaustion: a good client is served within 1 s during
#     each, threads, descriptors and RSS stay under stated limits, the
#     listener does not spin, memory is handed back when the load ends;
#   - SIGHUP reloads the CA (mint mode) and says so; SIGTERM drains and
#     exits 0; systemd notifications (NOTIFY_SOCKET); the metrics page.
set -u
bin=${1:?usage: test_serve_abuse.sh path/to/freshtls}
here=$(cd "$(dirname "$0")" && pwd)
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# Limits this test states for a server with --max-conns 64.
MAX_THREADS=3      # the event loop and the watcher
MAX_FDS=100        # 64 connections + listeners, watcher, stdio
MAX_RSS_KB=65536
RSS_SLACK_KB=8192  # above the idle baseline once the load has ended

"$bin" ca init --out "$tmp/ca" >/dev/null || exit 1
mkdir -p "$tmp/id"
"$bin" mint localhost --ca "$tmp/ca" --days 10 --key-out "$tmp/id/tls.key" \
  > "$tmp/id/tls.crt" || exit 1

start() { # start NAME ARGS...: serve in the background; sets pid, port
  local name=$1; shift
  "$bin" serve --listen 127.0.0.1:0 "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
  pid=$!; pids+=("$pid")
  for _ in $(seq 200); do grep -q 'listening on' "$tmp/$name.out" && break; sleep 0.05; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/$name.out")
}
stat_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# good PORT: a well-behaved client's whole request, best of three tries,
# in seconds (curl's time_total).
good() {
  local best=99 t
  for _ in 1 2 3; do
    t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 --noproxy '*' \
        --cacert "$tmp/ca/ca.crt" --resolve "localhost:$1:127.0.0.1" \
        "https://localhost:$1/" 2>/dev/null) || t=99
    best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (a < b) ? a : b }')
  done
  echo "$best"
}
under_1s() { awk -v t="$1" 'BEGIN { exit !(t < 1.0) }'; }
attack() { # attack MODE N SECONDS: in the background; waits until open
  python3 "$here/serve_abuse.py" "$1" "$port" "$2" "$3" > "$tmp/attack.out" &
  apid=$!; pids+=("$apid")
  for _ in $(seq 200); do grep -q '^ready' "$tmp/attack.out" && break; sleep 0.05; done
}

# ---- idle connections and slowloris against the cap and the deadlines -----
start main --dir "$tmp/id" --max-conns 64 --handshake-timeout 2 --request-timeout 2 \
  --metrics 127.0.0.1:0
[ -n "$port" ] && ok "serve on port $port" || { bad "serve did not start"; cat "$tmp/main.err"; exit 1; }
mport=$(sed -n 's/^metrics on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/main.out")
page=$(curl -s --noproxy '*' "http://127.0.0.1:$mport/metrics")
na=$(date -d "$(openssl x509 -in "$tmp/id/tls.crt" -noout -enddate | cut -d= -f2)" +%s)
for m in 'freshtls_source_generation{source="identity"} 1' \
         "freshtls_source_not_after_timestamp_seconds{source=\"identity\"} $na" \
         'freshtls_source_reload_failures_total{source="identity"} 0'; do
  grep -qF "$m" <<<"$page" && ok "metrics: $m" || bad "metrics lack '$m'"
done
grep -q '^freshtls_source_seconds_to_expiry{source="identity"} [0-9]' <<<"$page" \
  && ok "metrics: seconds to expiry" || bad "metrics: no seconds to expiry"
curl -s -o /dev/null --noproxy '*' --cacert "$tmp/ca/ca.crt" \
  --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/"
sleep 0.5
base_rss=$(stat_of "$pid" VmRSS)

attack idle 400 5
sleep 0.5
t=$(good "$port")
under_1s "$t" && ok "400 idle connections (cap 64): a good client served in ${t}s" \
  || bad "idle flood: good client took ${t}s"
th=$(stat_of "$pid" Threads); fd=$(fds_of "$pid"); rss=$(stat_of "$pid" VmRSS)
echo "# during the idle flood: threads $th, fds $fd, rss ${rss} kB (baseline ${base_rss} kB)"
[ "$th" -le $MAX_THREADS ] && ok "threads $th <= $MAX_THREADS" || bad "threads $th"
[ "$fd" -le $MAX_FDS ] && ok "descriptors $fd <= $MAX_FDS" || bad "descriptors $fd"
sanitized=${FTLS_SANITIZED:-}
if [ -n "$sanitized" ]; then
  echo "# $sanitized sanitizer build: RSS limits not checked (shadow memory)"
else
  [ "$rss" -le $MAX_RSS_KB ] && ok "rss $rss kB <= $MAX_RSS_KB kB" || bad "rss $rss kB"
fi
wait "$apid"

attack slowloris 50 5
sleep 0.3
t=$(good "$port")
under_1s "$t" && ok "slowloris: a good client served in ${t}s" || bad "slowloris: good client ${t}s"
wait "$apid"
n=$(sed -n 's/^closed_by_server \([0-9]*\) of \([0-9]*\)$/\1 \2/p' "$tmp/attack.out")
set -- $n
[ "${1:-0}" -gt 0 ] && [ "${1:-0}" = "${2:-x}" ] \
  && ok "slowloris: all $1 trickling handshakes cut at the handshake deadline" \
  || bad "slowloris: closed ${1:-?} of ${2:-?}"

sleep 1.5
rss=$(stat_of "$pid" VmRSS)
if [ -z "$sanitized" ]; then
  [ "$rss" -le $((base_rss + RSS_SLACK_KB)) ] \
    && ok "memory handed back after the load: rss $rss kB (baseline $base_rss kB)" \
    || bad "rss after load $rss kB vs baseline $base_rss kB"
fi
grep -q 'handshake with .* timed out' "$tmp/main.err" && grep -q 'closing the idle' "$tmp/main.err" \
  && ok "timeouts and evictions are logged (rate-limited)" || bad "no timeout/eviction log"
lines=$(wc -l < "$tmp/main.err")
[ "$lines" -le 200 ] && ok "log stayed bounded ($lines lines)" || bad "log flooded: $lines lines"
kill -TERM "$pid"; wait "$pid"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM exit $rc"

# ---- out of descriptors: back off, do not spin --------------------------------
(ulimit -n 48; exec "$bin" serve --listen 127.0.0.1:0 --dir "$tmp/id" --max-conns 512 \
   --handshake-timeout 3 > "$tmp/fd.out" 2> "$tmp/fd.err") &
pid=$!; pids+=("$pid")
for _ in $(seq 200); do grep -q 'listening on' "$tmp/fd.out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/fd.out")
attack idle 120 5
c0=$(cpu_ticks "$pid"); sleep 2; c1=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
echo "# EMFILE: $((c1 - c0)) CPU ticks in 2 s (CLK_TCK $hz)"
[ $((c1 - c0)) -lt $((hz / 2)) ] && ok "EMFILE: the accept loop does not spin" \
  || bad "EMFILE: $((c1 - c0)) ticks in 2 s"
t=$(good "$port")
under_1s "$t" && ok "EMFILE: a good client served in ${t}s" || bad "EMFILE: good client ${t}s"
grep -q 'pausing' "$tmp/fd.err" && ok "EMFILE is logged" || bad "EMFILE not logged"
wait "$apid"
kill -TERM "$pid"; wait "$pid"

# ---- signals, systemd notifications, metrics (mint mode) ------------------------
python3 - "$tmp/notify.sock" "$tmp/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
            log.flush()
    except OSError:
        pass
PY
npid=$!; pids+=("$npid")
for _ in $(seq 100); do [ -S "$tmp/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$tmp/notify.sock" start mint --mint-ca "$tmp/ca" --metrics 127.0.0.1:0
mport=$(sed -n 's/^metrics on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/mint.out")
for _ in $(seq 100); do grep -q READY=1 "$tmp/notify.log" 2>/dev/null && break; sleep 0.05; done
grep -q '^READY=1' "$tmp/notify.log" && ok "systemd: READY=1" || bad "no READY=1"
curl -s --noproxy '*' --cacert "$tmp/ca/ca.crt" --resolve "a.example:$port:127.0.0.1" \
  "https://a.example:$port/" | grep -q 'minted for: a.example' \
  && ok "mint mode names the SNI it minted for" || bad "mint response"
page=$(curl -s --noproxy '*' "http://127.0.0.1:$mport/metrics")
for m in 'freshtls_handshakes_total 1' 'freshtls_connections_active 0' \
         'freshtls_leaf_cache_mints_total 1' 'freshtls_requests_total 1'; do
  grep -q "^$m\$" <<<"$page" && ok "metrics: $m" || bad "metrics lack '$m'"
done
# A new CA behind the same paths; SIGHUP makes it the signer.
mkdir "$tmp/ca2" && "$bin" ca init --out "$tmp/ca2/new" >/dev/null
cp "$tmp/ca/ca.crt" "$tmp/old-ca.crt"
cat "$tmp/ca2/new/ca.key" > "$tmp/ca/ca.key"; cat "$tmp/ca2/new/ca.crt" > "$tmp/ca/ca.crt"
kill -HUP "$pid"
for _ in $(seq 100); do grep -q 'reloaded the CA' "$tmp/mint.err" && break; sleep 0.05; done
grep -q 'SIGHUP: reloading' "$tmp/mint.err" && grep -q 'reloaded the CA' "$tmp/mint.err" \
  && ok "SIGHUP reload is logged" || bad "SIGHUP: $(cat "$tmp/mint.err")"
kill -0 "$pid" 2>/dev/null && ok "SIGHUP does not kill serve" || bad "serve died on SIGHUP"
curl -s --noproxy '*' --cacert "$tmp/ca2/new/ca.crt" --resolve "b.example:$port:127.0.0.1" \
  "https://b.example:$port/" | grep -q 'minted for: b.example' \
  && ok "after SIGHUP, leaves chain to the new CA" || bad "new CA not in use"
grep -q '^RELOADING=1' "$tmp/notify.log" && ok "systemd: RELOADING=1 on SIGHUP" || bad "no RELOADING"
kill -TERM "$pid"; wait "$pid"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM after SIGHUP: exit 0" || bad "exit $rc"
sleep 0.2
grep -q '^STOPPING=1' "$tmp/notify.log" && ok "systemd: STOPPING=1" || bad "no STOPPING"

finish
