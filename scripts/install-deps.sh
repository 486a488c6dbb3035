#!/bin/sh
# Installs the Debian packages Gatekeeper builds, tests and runs with, when any is missing.
# Uses apt-get directly as root, through sudo otherwise. Safe to run again: does nothing when all
# packages are present.
set -eu
packages="build-essential cmake pkg-config liblua5.4-dev libnng-dev nng-utils libjansson-dev
libsodium-dev libsqlite3-dev check python3 python3-jwcrypto python3-jsonschema openssl"
missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: missing packages:$missing; run as root or install sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $sudo apt-get install -y --no-install-recommends $missing; then
    $sudo apt-get update
    # shellcheck disable=SC2086
    $sudo apt-get install -y --no-install-recommends $missing
fi
