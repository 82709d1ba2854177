#!/usr/bin/env bash
#  Installs dlb node NAME as systemd services on this machine: the binaries
#  in /usr/local/bin, the units in /etc/systemd/system, the user dlb, and
#  /etc/dlb/NAME.env (from example.env, if absent: edit it, then run this
#  again). Then enables and starts dlb@NAME.target. Needs root.
#  Usage: deploy/systemd/install.sh NAME [BUILD_DIR]   (BUILD_DIR: build/)
set -euo pipefail
usage() { sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; }
case ${1:-} in
    -h | --help) usage; exit 0 ;;
    '') echo "install.sh: NAME needed" >&2; usage >&2; exit 2 ;;
esac
name=$1
here=$(cd "$(dirname "$0")" && pwd)
build=${2:-$here/../../build}
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "install.sh: node name '$name': letters, digits, _ . -" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
for b in dlb-monitor dlb-worker dlb-state dlb-transfer dlb-adaptor dlbctl; do
    [ -x "$build/$b" ] || { echo "install.sh: $build/$b missing (scripts/build.sh)" >&2; exit 1; }
done

install -m755 "$build"/dlb-{monitor,worker,state,transfer,adaptor} "$build/dlbctl" /usr/local/bin/
id -u dlb >/dev/null 2>&1 ||
    useradd --system --home-dir /var/lib/dlb --no-create-home --shell /usr/sbin/nologin dlb
install -m644 "$here"/dlb-*@.service "$here/dlb@.target" /etc/systemd/system/
install -d -m755 /etc/dlb
if [ ! -e "/etc/dlb/$name.env" ]; then
    sed "s/^DLB_NODE=.*/DLB_NODE=$name/" "$here/example.env" >"/etc/dlb/$name.env"
    chmod 644 "/etc/dlb/$name.env"
    echo "install.sh: wrote /etc/dlb/$name.env from example.env; edit it, then run this again" >&2
    exit 0
fi
systemctl daemon-reload
systemctl enable --now "dlb@$name.target"
echo "install.sh: node $name enabled and started; 'systemctl status \"dlb-*@$name\"' shows it" >&2
