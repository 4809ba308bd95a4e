#!/bin/bash
# mmdebstrap --customize-hook: turn the bookworm root in "$1" into the xnai-edge appliance.
# Runs on the build host as root with /proc, /sys and /dev mounted in the root (mmdebstrap does
# that), so `chroot "$1" ...` works.  Inputs come from build.sh through the environment:
#   XNAI_SRC        the project source tree (git archive of HEAD, or the work tree)
#   XNAI_DIST       directory with the project's wheel
#   XNAI_WHEELHOUSE pinned wheels of every dependency (llama-cpp-python built portable)
#   XNAI_MODELS     a models dir holding <set>/<role>/... of XNAI_MODEL_SET
#   XNAI_MANIFEST_OUT  where to write the list of installed Debian packages
set -euo pipefail
R="$1"
: "${XNAI_SRC:?}" "${XNAI_DIST:?}" "${XNAI_WHEELHOUSE:?}" "${XNAI_MODELS:?}" "${XNAI_MODEL_SET:?}"
IMAGE="$XNAI_SRC/image"
# A clean environment in the root: none of the build host's PIP_* settings or paths leak in.
in_root() {
    chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" "$@"
}

echo "customize: overlay, units, scripts"
cp -a --no-preserve=ownership "$IMAGE/rootfs/." "$R/"
install -m 0644 "$XNAI_SRC/systemd/xnai-edge.service" "$XNAI_SRC/systemd/xnai-edge-firstboot.service" \
    "$XNAI_SRC/systemd/xnai-edge-banner.service" "$R/usr/lib/systemd/system/"
install -m 0644 "$XNAI_SRC/systemd/xnai-edge.sysusers.conf" "$R/usr/lib/sysusers.d/xnai-edge.conf"
install -d -m 0755 "$R/usr/lib/xnai-edge" "$R/usr/share/xnai-edge/hardware/match" "$R/etc/xnai-edge"
install -m 0755 "$IMAGE/firstboot.sh" "$R/usr/lib/xnai-edge/firstboot"
install -m 0755 "$IMAGE/banner.sh" "$R/usr/lib/xnai-edge/banner"
install -m 0644 "$XNAI_SRC"/hardware/*.toml "$R/usr/share/xnai-edge/hardware/"
install -m 0644 "$XNAI_SRC"/hardware/match/*.toml "$R/usr/share/xnai-edge/hardware/match/"
install -m 0644 "$XNAI_SRC/config/models.toml" "$R/etc/xnai-edge/models.toml"
install -m 0644 "$XNAI_SRC/hardware/udev/"*.rules "$R/etc/udev/rules.d/"
install -m 0644 "$XNAI_SRC/hardware/alsa/asound.conf" "$R/etc/asound.conf"
install -m 0644 "$XNAI_SRC/hardware/modprobe/"*.conf "$R/etc/modprobe.d/"
echo "$XNAI_MODEL_SET" > "$R/usr/lib/xnai-edge/model-set"

echo "customize: service user (fixed at build time so the models can be owned by it)"
in_root systemd-sysusers

echo "customize: the app's venv from the wheelhouse (no index: only the pinned wheels)"
mkdir -p "$R/tmp/xnai-wheels" "$R/tmp/xnai-dist"
cp "$XNAI_WHEELHOUSE"/*.whl "$R/tmp/xnai-wheels/"
cp "$XNAI_DIST"/*.whl "$R/tmp/xnai-dist/"
in_root python3 -m venv /opt/xnai-edge/venv
wheel=$(cd "$XNAI_DIST" && ls xnai_edge-*.whl)
in_root /opt/xnai-edge/venv/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
    --find-links /tmp/xnai-wheels "/tmp/xnai-dist/$wheel"
rm -rf "$R/tmp/xnai-wheels" "$R/tmp/xnai-dist"
in_root /opt/xnai-edge/venv/bin/xnai-edge --help > /dev/null
ln -sf /opt/xnai-edge/venv/bin/xnai-edge "$R/usr/bin/xnai-edge"

echo "customize: models ($XNAI_MODEL_SET)"
install -d -m 0700 "$R/var/lib/xnai-edge" "$R/var/lib/xnai-edge/models"
cp -a --no-preserve=ownership "$XNAI_MODELS/$XNAI_MODEL_SET" "$R/var/lib/xnai-edge/models/"
in_root chown -R xnai-edge:xnai-edge /var/lib/xnai-edge
chmod 0700 "$R/var/lib/xnai-edge" "$R/var/lib/xnai-edge/models"

echo "customize: services on and off"
in_root systemctl enable systemd-networkd.service systemd-resolved.service \
    xnai-edge.service xnai-edge-firstboot.service xnai-edge-banner.service
in_root systemctl disable mosquitto.service ssh.service systemd-networkd-wait-online.service
in_root systemctl mask ssh.socket 2>/dev/null || true
in_root passwd --lock root > /dev/null

echo "customize: no identity, no secret, no host state in the image"
rm -f "$R"/etc/ssh/ssh_host_*
rm -rf "$R/var/lib/xnai-edge/secrets" "$R/var/lib/xnai-edge/device-id"
rm -f "$R/var/lib/systemd/random-seed" "$R/var/lib/dbus/machine-id"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/debconf/*-old
rm -rf "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/root/.cache "$R"/tmp/* "$R"/var/tmp/*
find "$R/opt/xnai-edge/venv" -name '__pycache__' -path '*/pip/*' -prune -exec rm -rf {} +

if [ -n "${XNAI_MANIFEST_OUT:-}" ]; then
    in_root dpkg-query -W -f '${Package} ${Version}\n' > "$XNAI_MANIFEST_OUT"
    in_root /opt/xnai-edge/venv/bin/pip list --format=freeze --disable-pip-version-check \
        >> "$XNAI_MANIFEST_OUT"
fi
echo "customize: done"
