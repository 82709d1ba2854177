#!/usr/bin/env bash
#  Installs the Debian packages dlb needs to build, test and demo, if missing.
#  Safe to run repeatedly; needs root (or sudo) only when something is missing.
#  For the container image and its test: docker-compose, and debootstrap
#  (scripts/make-base-image.sh); python3 and gnuplot-nox for dlb-bench and its
#  test (tools/bench: its plots; taskset is in util-linux); libmicrohttpd for dlb-web,
#  and for its browser test (tests/test_web.sh) curl, headless Chromium with its driver,
#  Selenium, and prometheus for `promtool check metrics` (19 MB, beside Chromium's 81);
#  python3-zmq for bench/bus.py; the Docker engine itself is left to you
#  (Debian's docker.io), and tests/test_compose.sh skips without one.
#  Usage: scripts/install-deps.sh [--fuzz]   --fuzz adds clang and its
#  libFuzzer runtime (Debian 12: clang 14), for scripts/fuzz.sh.
set -euo pipefail
packages=(build-essential cmake pkg-config libczmq-dev libzmq3-dev libmsgpack-dev
          zlib1g-dev docker-compose debootstrap procps iproute2 jq
          python3 gnuplot-nox util-linux libmicrohttpd-dev curl
          chromium chromium-driver python3-selenium prometheus python3-zmq)
[ "${1:-}" = --fuzz ] && packages+=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
#  Another apt may hold the lock (e.g. unattended upgrades): wait for it.
$sudo apt-get update -qq -o DPkg::Lock::Timeout=600
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
