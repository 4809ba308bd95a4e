#!/bin/sh
# The promises the built image makes (issue 11, "Interface the checks rely on"), checked on the
# root tree before it becomes a file system: build.sh stops if one is broken, and
# tests/unit/test_image_rootfs.py runs this on small trees, good and bad.  Usage: check_rootfs.sh ROOT
set -u
R="${1:?usage: check_rootfs.sh ROOT}"
bad=0
fail() { echo "error[image]: $*" >&2; bad=1; }

link="$R/etc/systemd/system/multi-user.target.wants/xnai-edge.service"
[ -L "$link" ] || fail "xnai-edge.service is not enabled (no link $link)"
unit="$R/usr/lib/systemd/system/xnai-edge.service"
[ -f "$unit" ] || fail "xnai-edge.service is not installed in /usr/lib/systemd/system"
if [ -d "$R/var/lib/xnai-edge/secrets" ] && [ -n "$(ls -A "$R/var/lib/xnai-edge/secrets")" ]; then
    fail "the image holds secrets: $(ls -A "$R/var/lib/xnai-edge/secrets" | head -3)"
fi
[ ! -e "$R/var/lib/xnai-edge/device-id" ] || fail "the image holds a device id"
mid=$(cat "$R/etc/machine-id" 2>/dev/null || echo missing)
case "$mid" in
    ""|uninitialized) ;;
    *) fail "/etc/machine-id must be empty or 'uninitialized', not '$mid'" ;;
esac
for key in "$R"/etc/ssh/ssh_host_*; do
    [ -e "$key" ] && fail "SSH host key in the image: ${key#"$R"}"
done
for unit in ssh.service mosquitto.service; do
    wants="$R/etc/systemd/system/multi-user.target.wants/$unit"
    if [ -e "$wants" ] || [ -L "$wants" ]; then fail "$unit is enabled"; fi
done
[ -f "$R/etc/systemd/network/80-wired.network" ] || fail "no networkd config for wired DHCP"
[ -L "$R/etc/systemd/system/multi-user.target.wants/systemd-networkd.service" ] \
    || fail "systemd-networkd is not enabled"
[ -x "$R/opt/xnai-edge/venv/bin/xnai-edge" ] || fail "no /opt/xnai-edge/venv/bin/xnai-edge"
[ ! -e "$R/etc/xnai-edge/config.toml" ] || fail "config.toml is made on the device (first boot)"
if [ "$bad" = 0 ]; then echo "check_rootfs: $R keeps the image's promises"; fi
exit "$bad"
