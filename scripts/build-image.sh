#!/usr/bin/env bash
#  Builds the dlb node image (deploy/Dockerfile) without pulling anything:
#  the base is BASE if given, else debian:12-slim if this machine already has
#  it, else dlb-base:bookworm, which scripts/make-base-image.sh makes from
#  Debian's packages when it is missing. Docker's layer cache makes a rerun
#  on unchanged sources take seconds. Prints the image's id on stdout.
#  Usage: scripts/build-image.sh [--tag NAME] [--base IMAGE]   (tag: dlb:latest)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tag=dlb:latest
base=${DLB_BASE_IMAGE:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag=${2:?--tag needs a NAME}; shift 2 ;;
        --base) base=${2:?--base needs an IMAGE}; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "build-image: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$base" ]; then
    if docker image inspect debian:12-slim >/dev/null 2>&1; then
        base=debian:12-slim
    else
        base=dlb-base:bookworm
        "$top/scripts/make-base-image.sh" --tag "$base" >&2
    fi
fi
started=$(date +%s)
echo "build-image: building $tag on $base" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! docker build --build-arg "BASE=$base" -f "$top/deploy/Dockerfile" -t "$tag" \
    "$top" >"$log" 2>&1; then
    echo "build-image: docker build failed; the end of its output:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "build-image: built $tag in $(($(date +%s) - started)) s" >&2
docker image inspect -f '{{.Id}}' "$tag"
