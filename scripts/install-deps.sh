#!/usr/bin/env bash
#  Installs the Debian packages dlb needs to build, test and demo, if missing.
#  Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail
packages=(build-essential cmake pkg-config libczmq-dev libzmq3-dev libmsgpack-dev
          zlib1g-dev docker-compose procps iproute2 jq)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
