#!/usr/bin/env bash
# Install into a staging prefix and build a tiny consumer two ways: with
# pkg-config and with CMake's find_package(freshtls). Proves the install
# rules, freshtls.pc and the CMake package config are usable.
set -euo pipefail
build=${1:?usage: install_consumer.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cmake --install "$build" --prefix "$stage/prefix" >/dev/null

# The installed tool runs as it is: no LD_LIBRARY_PATH, no ldconfig.
if [ -x "$stage/prefix/bin/freshtls" ]; then
  env -u LD_LIBRARY_PATH "$stage/prefix/bin/freshtls" version >/dev/null ||
    { echo "FAIL the installed freshtls does not start"; exit 1; }
  echo "installed tool runs: $stage/prefix/bin/freshtls version"
  # freshtls exec finds the installed preload shim next to the library.
  ls "$stage"/prefix/lib*/libfreshtls-preload.so >/dev/null 2>&1 ||
    { echo "FAIL libfreshtls-preload.so not installed"; exit 1; }
  env -u LD_LIBRARY_PATH "$stage/prefix/bin/freshtls" exec -- true ||
    { echo "FAIL the installed freshtls exec cannot run a program"; exit 1; }
fi

# The man page is installed where man(1) finds it for this prefix.
if [ -f "$build/cli/freshtls" ] || [ -d "$build/cli" ]; then
  page="$stage/prefix/share/man/man1/freshtls.1"
  [ -f "$page" ] || { echo "FAIL $page not installed"; exit 1; }
  if command -v man >/dev/null 2>&1; then
    MANPATH="$stage/prefix/share/man" man freshtls 2>/dev/null | grep -q 'freshtls mint' ||
      { echo "FAIL 'man freshtls' does not show the page"; exit 1; }
  fi
  echo "man page ok: $page"
fi

# The library's man(3) pages: the index and one page per function.
for page in freshtls.3 ftls_roots_load.3 ftls_ctx_attach.3; do
  [ -f "$stage/prefix/share/man/man3/$page" ] ||
    { echo "FAIL man3/$page not installed"; exit 1; }
done
if command -v man >/dev/null 2>&1; then
  MANPATH="$stage/prefix/share/man" man 3 ftls_ctx_attach 2>/dev/null |
    grep -q 'RETURN VALUE' ||
    { echo "FAIL 'man 3 ftls_ctx_attach' does not show the page"; exit 1; }
fi
echo "man(3) pages ok: $(ls "$stage/prefix/share/man/man3" | wc -l) pages"

mkdir -p "$stage/app"
cat > "$stage/app/main.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <freshtls/freshtls.h>
int main(void)
{
    ftls_cell *cell = NULL;
    ftls_snapshot *s = NULL;
    static int v = 7;
    if (ftls_cell_new(NULL, NULL, &cell, NULL) != FTLS_OK ||
        ftls_cell_publish(cell, &v, NULL, NULL) != FTLS_OK ||
        ftls_cell_get1_snapshot(cell, &s) != FTLS_OK)
        return 1;
    int ok = *(int *)ftls_snapshot_get0_data(s) == 7 &&
             strcmp(ftls_version_string(), FTLS_VERSION_STRING) == 0;
    ftls_snapshot_free(s);
    ftls_cell_free(cell);
    printf("consumer ok: freshtls %s\n", ftls_version_string());
    return ok ? 0 : 1;
}
C
libdir=$(ls -d "$stage"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH="$libdir"
cc -std=c11 -Wall -Werror "$stage/app/main.c" -o "$stage/app/pc" \
  $(pkg-config --cflags --libs freshtls) -Wl,-rpath,"$(dirname "$libdir")"
"$stage/app/pc"

cat > "$stage/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(freshtls 0.1 REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE freshtls::freshtls)
CM
cmake -S "$stage/app" -B "$stage/app/build" -DCMAKE_PREFIX_PATH="$stage/prefix" >/dev/null
cmake --build "$stage/app/build" >/dev/null
"$stage/app/build/app"
echo "install consumer: pkg-config and CMake package both work"
