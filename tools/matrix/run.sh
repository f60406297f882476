#!/usr/bin/env bash
# Build and test freshtls inside a matrix root (tools/matrix/mkroot.sh).
#   tools/matrix/run.sh NAME ROOT test    configure, build, make test's ctest run
#   tools/matrix/run.sh NAME ROOT bench   bench_mint and bench_roots, every
#                                         BENCH/RATIO line suffixed ".NAME"
#   tools/matrix/run.sh NAME ROOT exec CMD  one shell command, e.g. a test
# The source tree is bind-mounted read-only at /src inside a private mount
# namespace (the mounts vanish with the run); the build lives in ROOT/build.
# CMAKE_ARGS is passed to cmake, as for make test.
set -euo pipefail
name=${1:?usage: run.sh NAME ROOT test|bench}
root=${2:?usage: run.sh NAME ROOT test|bench}
what=${3:-test}
src=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$root/.complete" ] || { echo "matrix: no root in $root (make test-matrix creates it)" >&2; exit 1; }

case $what in
  test)  inner='cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo $CMAKE_ARGS >/dev/null &&
                cmake --build /build -j "$JOBS" >/build.log 2>&1 || { tail -60 /build.log; exit 1; }
                grep -i "warning" /build.log || true
                cd /build && ctest --output-on-failure -j "$JOBS"' ;;
  bench) inner='cmake --build /build -j "$JOBS" >/build.log 2>&1 || { tail -60 /build.log; exit 1; }
                for b in bench_mint bench_roots; do
                  /build/bench/$b | sed -E "s/^(BENCH|RATIO) ([^ ]+)/\1 \2.$SUFFIX/"
                done' ;;
  exec)  inner=${4:?exec needs a command} ;;
  *) echo "matrix: unknown action $what (test, bench, exec)" >&2; exit 2 ;;
esac

mkdir -p "$root/src" "$root/build"
exec unshare --mount --propagation private env \
  ROOT="$root" SRC="$src" INNER="$inner" SUFFIX="$name" \
  JOBS="${JOBS:-$(nproc)}" CMAKE_ARGS="${CMAKE_ARGS:-}" bash -c '
  set -e
  mount --bind "$SRC" "$ROOT/src"; mount -o remount,bind,ro "$ROOT/src"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount -t tmpfs tmpfs "$ROOT/tmp"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  exec chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 JOBS="$JOBS" CMAKE_ARGS="$CMAKE_ARGS" SUFFIX="$SUFFIX" \
    bash -c "set -eo pipefail; $INNER"'
