#!/usr/bin/env bash
#  Makes the Docker base image dlb-base:bookworm from Debian packages, for a
#  machine that cannot pull debian:12-slim from a registry: debootstrap
#  --variant=minbase bookworm into a temporary directory, trimmed like the
#  slim image (no manuals, docs or locales; apt lists and caches emptied),
#  then `docker import`. Installs debootstrap with apt if it is missing.
#  Does nothing if the image exists, unless --force. Needs root (or sudo).
#  Build the node image on it with:
#      docker build --build-arg BASE=dlb-base:bookworm -f deploy/Dockerfile -t dlb:latest .
#  Usage: scripts/make-base-image.sh [--force] [--tag NAME] [--mirror URL]
set -euo pipefail
tag=dlb-base:bookworm
mirror=${DLB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1; shift ;;
        --tag) tag=${2:?--tag needs a NAME}; shift 2 ;;
        --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "make-base-image: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! docker info >/dev/null 2>&1; then
    echo "make-base-image: no Docker daemon answers (is docker running, may you use it?)" >&2
    exit 1
fi
if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "make-base-image: $tag exists (--force makes it again)" >&2
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
    echo "make-base-image: installing debootstrap" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 debootstrap >&2
fi

root=$(mktemp -d /tmp/dlb-base.XXXXXX)
trap '$sudo rm -rf --one-file-system "$root"' EXIT
started=$(date +%s)
echo "make-base-image: debootstrap bookworm from $mirror into $root" >&2
if ! $sudo env PATH="/usr/sbin:/sbin:$PATH" debootstrap --variant=minbase bookworm \
    "$root" "$mirror" >"$root.log" 2>&1; then
    echo "make-base-image: debootstrap failed; its log:" >&2
    tail -n 30 "$root.log" >&2
    rm -f "$root.log"
    exit 1
fi
rm -f "$root.log"

#  What the official slim image does (docker-debian-artifacts): the three
#  suites in deb822 form, no manuals, docs or locales from later installs, no
#  package cache kept, no recommended packages.
$sudo rm -f "$root/etc/apt/sources.list"
$sudo tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
$sudo tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
$sudo tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
$sudo tee "$root/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null <<'EOF'
APT::Install-Recommends "false";
EOF
$sudo find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
$sudo rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* "$root"/tmp/*
#  The container runtime provides these; the host's must not leak in.
: | $sudo tee "$root/etc/hostname" "$root/etc/resolv.conf" >/dev/null

$sudo tar -C "$root" --numeric-owner -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase bookworm $mirror (scripts/make-base-image.sh)" \
        - "$tag" >/dev/null
echo "make-base-image: made $tag in $(($(date +%s) - started)) s" \
    "($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))" >&2
