#!/bin/bash
# hotproxy on a VM (docs/install.md): a wheel of this checkout in PREFIX's own venv, the hotproxy
# user and group, /etc/hotproxy/envoy.yaml, /var/log/hotproxy, the systemd units and the logrotate
# snippet; the service enabled and started, or hot-restarted when it already runs (an upgrade drops
# no connection). Idempotent: a second run changes nothing. `uninstall` removes what `install`
# added, except /etc/hotproxy (and /var/log/hotproxy) unless --purge.
#
#   scripts/install.sh install   [--prefix DIR] [--root DIR] [--python PY] [--wheel FILE] [--pip-args ARGS] [--no-start]
#   scripts/install.sh uninstall [--prefix DIR] [--root DIR] [--purge]
#
# --root DIR (or DESTDIR) puts every file under DIR as if it were /: a staging tree, or a test run
# without root. No user, group or systemctl is touched then.
set -euo pipefail

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/opt/hotproxy}
ROOT=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
WHEEL=${HOTPROXY_WHEEL:-}
PIP_ARGS=${PIP_ARGS:-}
PURGE=no
START=yes
SERVICE_USER=hotproxy
MARKER=.hotproxy-install   # in PREFIX: what this script created, read back by uninstall

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || usage
ACTION=$1
shift
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift 2 ;;
        --wheel) WHEEL=${2:?--wheel needs a file}; shift 2 ;;
        --pip-args) PIP_ARGS=${2?--pip-args needs a value}; shift 2 ;;
        --purge) PURGE=yes; shift ;;
        --no-start) START=no; shift ;;
        -h|--help) usage ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case $PREFIX in /*) ;; *) die "--prefix must be an absolute path, not '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
ROOT=${ROOT%/}
if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
fi

DEST=$ROOT$PREFIX                       # where PREFIX's files go; the units name PREFIX itself
VENV=$DEST/.venv
ETC=$ROOT/etc/hotproxy
LOGS=$ROOT/var/log/hotproxy
UNITS=$ROOT/etc/systemd/system
LOGROTATE=$ROOT/etc/logrotate.d/hotproxy
UNIT_FILES="hotproxy.service hotproxy@.service hotproxy.socket"

# Users, groups and systemctl belong to the real system: only without --root, and only as root.
system_wide() { [ -z "$ROOT" ]; }
systemd_runs() { system_wide && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

systemd_version() {
    systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 + 0 }'
}

marker_has() { grep -qx "$1" "$DEST/$MARKER" 2>/dev/null; }
marker_add() { marker_has "$1" || echo "$1" >>"$DEST/$MARKER"; }

# --- install

make_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
    fi
}

build_wheel() {
    # The build runs on a copy, so that the checkout gets no build/ or egg-info from it.
    local work=$1
    mkdir -p "$work/src" "$work/dist"
    tar -C "$SOURCE" --exclude=__pycache__ -cf - pyproject.toml README.md hotproxy | tar -C "$work/src" -xf -
    if "$PYTHON" -c 'import build' 2>/dev/null; then
        "$PYTHON" -m build --wheel --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1
    else
        # shellcheck disable=SC2086
        "$VENV/bin/pip" wheel --no-deps $PIP_ARGS -w "$work/dist" "$work/src" >"$work/build.log" 2>&1
    fi || { cat "$work/build.log" >&2; die "building the wheel failed"; }
    WHEEL=$(ls "$work/dist"/hotproxy-*.whl)
}

wheel_digest() {
    # Of the wheel's contents, not of the zip: two builds of the same source differ in timestamps.
    "$VENV/bin/python" - "$1" <<'EOF'
import hashlib, sys, zipfile
digest = hashlib.sha256()
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in sorted(wheel.namelist()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(wheel.read(name)).digest())
print(digest.hexdigest())
EOF
}

install_wheel() {
    # Sets UPGRADED=yes when the installed hotproxy changed and a previous one was installed.
    local digest installed
    digest=$(wheel_digest "$WHEEL")
    installed=$(cat "$DEST/.wheel-digest" 2>/dev/null || true)
    UPGRADED=no
    if [ "$digest" = "$installed" ] && "$VENV/bin/python" -c 'import hotproxy' 2>/dev/null; then
        say "hotproxy $(basename "$WHEEL") is already installed in $VENV"
        return
    fi
    say "installing $(basename "$WHEEL") into $VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install --quiet $PIP_ARGS "$WHEEL"
    if [ -n "$installed" ]; then
        # pip keeps an installed version of the same number: other contents (a checkout between
        # releases) replace it all the same
        # shellcheck disable=SC2086
        "$VENV/bin/pip" install --quiet --no-deps --force-reinstall $PIP_ARGS "$WHEEL"
    fi
    echo "$digest" >"$DEST/.wheel-digest"
    [ -n "$installed" ] && UPGRADED=yes
    return 0
}

add_user() {
    system_wide || return 0
    if ! getent group "$SERVICE_USER" >/dev/null; then
        groupadd --system "$SERVICE_USER"
        marker_add "created-group"
    fi
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        useradd --system --gid "$SERVICE_USER" --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin --comment "hotproxy proxy" "$SERVICE_USER"
        marker_add "created-user"
    fi
}

install_config() {
    install -d -m 0755 "$ETC"
    if [ -e "$ETC/envoy.yaml" ]; then
        say "keeping $ETC/envoy.yaml"
    else
        install -m 0644 "$SOURCE/deploy/quickstart.yaml" "$ETC/envoy.yaml"
        say "wrote $ETC/envoy.yaml (the quickstart: edit it, then systemctl reload hotproxy)"
    fi
    install -d -m 0750 "$LOGS"
    system_wide && chown "$SERVICE_USER:$SERVICE_USER" "$LOGS"
    return 0
}

install_units() {
    local unit version
    install -d -m 0755 "$UNITS" "$(dirname "$LOGROTATE")" "$DEST/docs"
    for unit in $UNIT_FILES; do
        sed "s#/opt/hotproxy#$PREFIX#g" "$SOURCE/systemd/$unit" >"$UNITS/$unit.tmp"
        chmod 0644 "$UNITS/$unit.tmp"
        mv "$UNITS/$unit.tmp" "$UNITS/$unit"
    done
    version=$(systemd_version)
    for unit in hotproxy.service hotproxy@.service; do
        if [ "${version:-0}" -ge 253 ]; then
            install -D -m 0644 "$SOURCE/systemd/notify-reload.conf" "$UNITS/$unit.d/notify-reload.conf"
        else
            rm -f "$UNITS/$unit.d/notify-reload.conf"
            rmdir "$UNITS/$unit.d" 2>/dev/null || true
        fi
    done
    install -m 0644 "$SOURCE/systemd/hotproxy.logrotate" "$LOGROTATE"
    install -m 0644 "$SOURCE/docs/install.md" "$SOURCE/docs/systemd.md" "$DEST/docs/"
}

# The units of a running hotproxy: the service and every active instance of the template.
active_units() {
    systemctl list-units --state=active --plain --no-legend 'hotproxy.service' 'hotproxy@*.service' |
        awk '{ print $1 }'
}

hot_restart() {
    local unit=$1 before after deadline
    before=$(systemctl show -p MainPID --value "$unit")
    say "$unit: hot restart onto the new hotproxy (SIGUSR2 to pid $before)"
    systemctl kill --signal=SIGUSR2 --kill-whom=main "$unit"
    deadline=$((SECONDS + 90))
    while [ $SECONDS -lt $deadline ]; do
        after=$(systemctl show -p MainPID --value "$unit")
        if [ "$after" != "$before" ] && [ "$after" != 0 ]; then
            say "$unit: pid $after serves; pid $before drains"
            return 0
        fi
        sleep 0.5
    done
    die "$unit: the new epoch did not take over (journalctl -u $unit); the old one serves on"
}

start_or_upgrade() {
    systemd_runs || { system_wide && say "systemd is not running: units installed, not enabled"; return 0; }
    systemctl daemon-reload
    systemctl enable --quiet hotproxy.service
    local units unit config
    units=$(active_units)
    if [ -z "$units" ]; then
        [ "$START" = yes ] && { say "starting hotproxy.service"; systemctl start hotproxy.service; }
        return 0
    fi
    [ "$UPGRADED" = yes ] || return 0
    for unit in $units; do
        case $unit in
            hotproxy@*) config=/etc/hotproxy/${unit#hotproxy@}; config=${config%.service}.yaml ;;
            *) config=/etc/hotproxy/envoy.yaml ;;
        esac
        # the new hotproxy must accept the running config before it replaces the old one
        "$VENV/bin/hotproxy" --mode validate -c "$config" >/dev/null ||
            die "$unit: the new hotproxy refuses $config ($VENV/bin/hotproxy --mode validate -c $config); nothing restarted"
        hot_restart "$unit"
    done
}

do_install() {
    if system_wide && [ "$(id -u)" != 0 ]; then
        die "run as root, or with --root DIR to install into a staging tree"
    fi
    install -d -m 0755 "$DEST"
    touch "$DEST/$MARKER"
    make_venv
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    if [ -n "$WHEEL" ]; then
        [ -f "$WHEEL" ] || die "--wheel $WHEEL: no such file"
    else
        build_wheel "$WORK"
    fi
    install_wheel
    add_user
    install_config
    install_units
    start_or_upgrade
    say "done: $VENV/bin/hotproxy, $ETC/envoy.yaml, units in $UNITS"
}

# --- uninstall

do_uninstall() {
    if system_wide && [ "$(id -u)" != 0 ]; then
        die "run as root, or with --root DIR"
    fi
    if [ -e "$DEST" ] && [ ! -e "$DEST/$MARKER" ]; then
        die "$DEST was not made by this script (no $MARKER): not removing it"
    fi
    local unit
    if systemd_runs; then
        for unit in $(active_units) hotproxy.socket; do
            systemctl stop "$unit" 2>/dev/null || true
        done
        systemctl disable --quiet hotproxy.service hotproxy.socket 2>/dev/null || true
    fi
    for unit in $UNIT_FILES; do
        rm -f "$UNITS/$unit"
    done
    rm -rf "$UNITS/hotproxy.service.d/notify-reload.conf" "$UNITS/hotproxy@.service.d/notify-reload.conf"
    rmdir "$UNITS/hotproxy.service.d" "$UNITS/hotproxy@.service.d" 2>/dev/null || true
    rm -f "$LOGROTATE"
    if systemd_runs; then
        systemctl daemon-reload
        systemctl reset-failed 'hotproxy*' 2>/dev/null || true
    fi
    if system_wide; then
        marker_has created-user && userdel "$SERVICE_USER"
        marker_has created-group && getent group "$SERVICE_USER" >/dev/null && groupdel "$SERVICE_USER"
    fi
    rm -rf "$DEST"
    if [ "$PURGE" = yes ]; then
        rm -rf "$ETC" "$LOGS"
        say "removed $DEST, $ETC and $LOGS"
    else
        rmdir "$LOGS" 2>/dev/null || true
        say "removed $DEST; kept $ETC and the logs in $LOGS (--purge removes them)"
    fi
}

case $ACTION in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) usage ;;
esac
