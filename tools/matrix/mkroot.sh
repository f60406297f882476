#!/usr/bin/env bash
# Create a Debian root for one OpenSSL version of the test matrix.
#   tools/matrix/mkroot.sh ossl35|ossl40 DIR
# ossl35: Debian 13 (trixie), OpenSSL 3.5.
# ossl40: Debian unstable with OpenSSL (libssl-dev, openssl) from experimental.
# Needs root and mmdebstrap. The host system is never touched: every package
# goes into DIR. A root that was completed before is kept (DIR/.complete).
set -euo pipefail
name=${1:?usage: mkroot.sh ossl35|ossl40 DIR}
dir=${2:?usage: mkroot.sh ossl35|ossl40 DIR}
mirror=${FTLS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ -f "$dir/.complete" ] && { echo "matrix: $name root ready in $dir"; exit 0; }
command -v mmdebstrap >/dev/null || { echo "matrix: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "matrix: creating a root needs root" >&2; exit 1; }

# What building and testing freshtls needs inside the root.
pkgs=build-essential,cmake,pkg-config,libssl-dev,openssl,ca-certificates,python3,curl,libcurl4-openssl-dev,pmccabe,man-db
aptopt=(--aptopt='Acquire::Check-Valid-Until "false"' --aptopt='APT::Install-Recommends "false"')

rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
case $name in
  ossl35)
    mmdebstrap --variant=apt "${aptopt[@]}" --include="$pkgs" trixie "$dir" "deb $mirror trixie main" ;;
  ossl40)
    # Base from unstable, then OpenSSL 4 from experimental (apt never picks
    # experimental on its own, so ask for it by target release).
    mmdebstrap --variant=apt "${aptopt[@]}" --include="$pkgs" \
      --customize-hook='chroot "$1" apt-get install -y -q -t experimental libssl-dev openssl' \
      unstable "$dir" "deb $mirror unstable main" "deb $mirror experimental main" ;;
  *) echo "matrix: unknown root $name (ossl35, ossl40)" >&2; exit 2 ;;
esac
chroot "$dir" openssl version
touch "$dir/.complete"
