#!/usr/bin/env bash
# Debian's nginx, unmodified, under `freshtls exec --dir`: master as root,
# two workers as www-data, the key 0600 root. 50 Kubernetes-style ..data
# swaps under continuous curl load: every request succeeds and each new
# certificate is served within 1 s of its swap, with no signal sent to
# nginx. Then a swap to a mismatched key: the previous certificate stays
# and the log says why. Loopback only. Skipped (77) without nginx or root.
set -u
bin=${1:?usage: test_exec_nginx.sh path/to/freshtls path/to/libfreshtls-preload.so}
shim=${2:?usage: test_exec_nginx.sh path/to/freshtls path/to/libfreshtls-preload.so}
command -v nginx >/dev/null 2>&1 || { echo "SKIP nginx is not installed (apt-get install nginx-light)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP needs root (nginx master as root, workers as www-data)"; exit 77; }
id www-data >/dev/null 2>&1 || { echo "SKIP no www-data user"; exit 77; }
SWAPS=${FTLS_NGINX_SWAPS:-50}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
chmod 0755 "$tmp" # nginx workers (www-data) read their files here
lib_on_exit() { [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null; sleep 0.2; }

"$bin" ca init --out "$tmp/ca" >/dev/null || exit 1
s="$tmp/secret"; mkdir -p "$s"; chmod 0755 "$s"
gen() { # gen NAME: a new generation directory; prints the serial
  mkdir -p "$s/$1"
  "$bin" mint localhost --ca "$tmp/ca" --days 2 --key-out "$s/$1/tls.key" > "$s/$1/tls.crt" 2>/dev/null
  chmod 0600 "$s/$1/tls.key"
  openssl x509 -in "$s/$1/tls.crt" -noout -serial | cut -d= -f2
}
swap() { # swap NAME: the AtomicWriter way
  local old; old=$(readlink "$s/..data" 2>/dev/null)
  ln -s "$1" "$s/..data_tmp" && mv -T "$s/..data_tmp" "$s/..data"
  [ -e "$s/tls.crt" ] || ln -s ..data/tls.crt "$s/tls.crt"
  [ -e "$s/tls.key" ] || ln -s ..data/tls.key "$s/tls.key"
  [ -n "$old" ] && rm -rf "${s:?}/$old"
}
serial=$(gen ..g0); swap ..g0
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/temp"
cat > "$tmp/nginx.conf" <<EOF
user www-data;
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/error.log notice;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $tmp/temp; proxy_temp_path $tmp/temp;
  fastcgi_temp_path $tmp/temp; uwsgi_temp_path $tmp/temp; scgi_temp_path $tmp/temp;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $s/tls.crt;
    ssl_certificate_key $s/tls.key;
    location / { return 200 "ok\n"; }
  }
}
EOF
"$bin" exec --dir "$s" --log "$tmp/shim.log" --shim "$shim" -- \
  nginx -g 'daemon off;' -c "$tmp/nginx.conf" > "$tmp/nginx.out" 2>&1 &
pids+=($!)
served() {
  openssl s_client -connect "127.0.0.1:$port" -servername localhost -verify_return_error \
    -CAfile "$tmp/ca/ca.crt" < /dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
for _ in $(seq 100); do [ -n "$(served)" ] && break; sleep 0.05; done
[ "$(served)" = "$serial" ] && ok "nginx under freshtls exec serves generation 0" \
  || { bad "nginx did not start: $(cat "$tmp/nginx.out" "$tmp/error.log" 2>/dev/null)"; exit 1; }
workers=$(ps -o user= --ppid "$(cat "$tmp/nginx.pid")" | grep -c www-data)
[ "$workers" -eq 2 ] && ok "two workers run as www-data; the key is 0600 root" || bad "workers: $workers"

# Continuous load: count requests and failures until told to stop.
(
  n=0 f=0
  while [ ! -e "$tmp/stop" ]; do
    curl -s -o /dev/null --max-time 5 --noproxy '*' --cacert "$tmp/ca/ca.crt" \
      --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/" && n=$((n+1)) || f=$((f+1))
  done
  echo "$n $f" > "$tmp/load"
) &
loader=$!; pids+=($loader)

late=0 max_ms=0 lat=()
for i in $(seq 1 "$SWAPS"); do
  serial=$(gen "..g$i")
  t0=$(date +%s%N); swap "..g$i"
  seen=0
  while :; do
    [ "$(served)" = "$serial" ] && { seen=1; break; }
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 3000 ] && break
    sleep 0.02
  done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  lat+=("$ms")
  [ $ms -gt $max_ms ] && max_ms=$ms
  { [ $seen = 1 ] && [ $ms -le 1000 ]; } || late=$((late+1))
done
touch "$tmp/stop"; wait "$loader"
read -r nreq nfail < "$tmp/load"
echo "# $SWAPS swaps: slowest new certificate served after ${max_ms} ms; $nreq requests, $nfail failed"
# For make bench (bench/CMakeLists.txt): the swap-to-served latency, p99.
p99=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{v[NR]=$1} END {i=int(NR*0.99+0.999); if(i<1)i=1; if(i>NR)i=NR; print v[i]}')
echo "BENCH preload.nginx_rotation_p99 $p99 ms"
[ $late -eq 0 ] && ok "each of $SWAPS swaps served within 1 s (slowest ${max_ms} ms), no signal" \
  || bad "$late of $SWAPS swaps not served within 1 s"
[ "$nfail" -eq 0 ] && [ "$nreq" -gt 0 ] && ok "continuous load: all $nreq requests succeeded" \
  || bad "load: $nfail of $((nreq + nfail)) requests failed"

# A mismatched key: never served; the previous generation stays.
mkdir -p "$s/..bad"; gen ..bad >/dev/null
cp "$s/..g$SWAPS/tls.crt" "$s/..bad/tls.crt"
swap ..bad
for _ in $(seq 100); do grep -q 'rejected' "$tmp/shim.log" && break; sleep 0.05; done
sleep 0.3
[ "$(served)" = "$serial" ] && ok "a mismatched key is not served; the previous certificate stays" \
  || bad "mismatch: served $(served), want $serial"
grep -q 'rejected .*does not match' "$tmp/shim.log" && ok "the log says why" || bad "no reason logged"
kill -0 "$(cat "$tmp/nginx.pid")" 2>/dev/null && ok "no signal was needed: nginx is still the same process" \
  || bad "nginx died"

finish
