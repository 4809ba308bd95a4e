#!/bin/sh
# xnai-edge first boot (xnai-edge-firstboot.service, before the daemon): everything that makes
# one flashed image into one device is done here, on the device, so the image holds no secret
# and no identity.  machine-id is systemd's own job (/etc/machine-id is "uninitialized").
#
#   1. grow the root partition to the end of the disk and the ext4 file system with it
#   2. device id (<data dir>/device-id) and the secrets/ directory (mode 0700)
#   3. hostname xnai-edge-<first 6 of the device id>
#   4. /etc/xnai-edge/config.toml from the hardware profile that matches this machine
#
# Each step is independent: one that fails is logged and the others still run (the daemon is
# started either way); the exit status is non-zero if any failed, so `systemctl --failed` shows
# it.  The stamp file makes it run once; delete the data dir (factory reset) to run it again.
#
# For tests: XNAI_FIRSTBOOT_ROOT prefixes every file path, XNAI_FIRSTBOOT_DRY_RUN=1 prints the
# commands that change disks, users or the kernel instead of running them,
# XNAI_FIRSTBOOT_ROOTDEV names the root device, XNAI_FIRSTBOOT_XNAI the xnai-edge executable,
# XNAI_FIRSTBOOT_PROFILES the hardware profiles.
set -u

ROOT="${XNAI_FIRSTBOOT_ROOT:-}"
DRY_RUN="${XNAI_FIRSTBOOT_DRY_RUN:-0}"
XNAI="${XNAI_FIRSTBOOT_XNAI:-/opt/xnai-edge/venv/bin/xnai-edge}"
DATA_DIR="$ROOT/var/lib/xnai-edge"
USER_NAME=xnai-edge
STAMP="$DATA_DIR/.firstboot-done"
PLACEHOLDER_HOSTNAME=xnai-edge
failed=""

log() { echo "xnai-edge-firstboot: $*" >&2; }

run() {
    if [ "$DRY_RUN" = 1 ]; then echo "+ $*"; else "$@"; fi
}

# /dev/vda2 -> "/dev/vda 2"; /dev/nvme0n1p2 -> "/dev/nvme0n1 2"; /dev/mmcblk0p3 -> "... 3".
split_partition() {
    dev="$1"
    num=$(printf '%s\n' "$dev" | sed -n 's/.*[^0-9]\([0-9][0-9]*\)$/\1/p')
    [ -n "$num" ] || return 1
    disk=${dev%"$num"}
    case "$disk" in
        *[0-9]p) disk=${disk%p} ;;
    esac
    [ "$disk" != "$dev" ] || return 1
    echo "$disk $num"
}

grow_root() {
    rootdev="${XNAI_FIRSTBOOT_ROOTDEV:-$(findmnt -nro SOURCE /)}"
    set -- $(split_partition "$rootdev") || { log "cannot tell the disk of $rootdev"; return 1; }
    [ $# -eq 2 ] || { log "cannot tell the disk of $rootdev"; return 1; }
    disk="$1" part="$2"
    log "growing partition $part of $disk and the file system on $rootdev"
    # The image was written to a larger disk: the backup GPT header is not at its end yet.
    run sfdisk --no-reread --no-tell-kernel --relocate gpt-bak-std "$disk" || return 1
    if [ "$DRY_RUN" = 1 ]; then
        echo "+ echo ', +' | sfdisk --no-reread --no-tell-kernel -N $part $disk"
    else
        echo ', +' | sfdisk --no-reread --no-tell-kernel -N "$part" "$disk" || return 1
    fi
    # BLKPG resize: the kernel learns the new size of the mounted partition, then ext4 grows
    # online (what cloud-guest-utils' growpart does).
    run partx --update --nr "$part" "$disk" || return 1
    run resize2fs "$rootdev" || return 1
}

make_device_id() {
    if grep -Eqx '[a-z0-9][a-z0-9-]{3,63}' "$DATA_DIR/device-id" 2>/dev/null; then
        cat "$DATA_DIR/device-id"
        return 0
    fi
    id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    [ ${#id} -eq 12 ] || return 1
    mkdir -p "$DATA_DIR" || return 1
    umask 022
    printf '%s\n' "$id" > "$DATA_DIR/.device-id.tmp" && mv "$DATA_DIR/.device-id.tmp" \
        "$DATA_DIR/device-id" || return 1
    run chown "$USER_NAME:$USER_NAME" "$DATA_DIR/device-id" >&2 || return 1
    echo "$id"
}

make_secrets_dir() {
    mkdir -p -m 0700 "$DATA_DIR/secrets" && chmod 0700 "$DATA_DIR/secrets" || return 1
    run chown "$USER_NAME:$USER_NAME" "$DATA_DIR" "$DATA_DIR/secrets" || return 1
}

set_hostname() {
    id="$1"
    current=$(cat "$ROOT/etc/hostname" 2>/dev/null || true)
    if [ -n "$current" ] && [ "$current" != "$PLACEHOLDER_HOSTNAME" ]; then
        log "hostname $current kept (set by the owner)"
        return 0
    fi
    name="xnai-edge-$(printf '%s' "$id" | cut -c1-6)"
    printf '%s\n' "$name" > "$ROOT/etc/hostname" || return 1
    if grep -q '^127\.0\.1\.1' "$ROOT/etc/hosts" 2>/dev/null; then
        sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$name/" "$ROOT/etc/hosts" || return 1
    else
        printf '127.0.1.1\t%s\n' "$name" >> "$ROOT/etc/hosts" || return 1
    fi
    run hostname "$name" || return 1
    log "hostname $name"
}

FALLBACK_MARK="# xnai-edge-firstboot: fallback"

# The daemon cannot start without the config file it is told to read: if doctor fails, a
# minimal one (the image's model set, defaults for the rest) is written, marked so that the
# next boot replaces it; a file without the mark is the owner's and is kept.
write_config() {
    config="$ROOT/etc/xnai-edge/config.toml"
    if [ -e "$config" ]; then
        case "$(head -n1 "$config")" in
            "$FALLBACK_MARK"*) ;;
            *) log "$config kept"; return 0 ;;
        esac
    fi
    set_name=$(cat "$ROOT/usr/lib/xnai-edge/model-set" 2>/dev/null || echo tiny)
    mkdir -p "$ROOT/etc/xnai-edge" || return 1
    rm -f "$config"
    "$XNAI" doctor --profiles "${XNAI_FIRSTBOOT_PROFILES:-$ROOT/usr/share/xnai-edge/hardware}" \
        --model-set "$set_name" --write-config "$config" >&2
    if [ -s "$config" ]; then return 0; fi
    log "doctor wrote no config: defaults with the $set_name set until the next boot"
    printf '%s (doctor failed; replaced at the next boot)\n[models]\nset = "%s"\n' \
        "$FALLBACK_MARK" "$set_name" > "$config"
    return 1
}

main() {
    if [ -e "$STAMP" ]; then
        log "already done ($STAMP)"
        return 0
    fi
    grow_root || failed="$failed grow-root"
    id=$(make_device_id) || { failed="$failed device-id"; id=""; }
    make_secrets_dir || failed="$failed secrets"
    if [ -n "$id" ]; then set_hostname "$id" || failed="$failed hostname"; fi
    write_config || failed="$failed config"
    if [ -n "$failed" ]; then
        log "failed:$failed"
        return 1
    fi
    : > "$STAMP"
    log "done"
}

# XNAI_FIRSTBOOT_LIB=1: only define the functions (tests source the file).
[ "${XNAI_FIRSTBOOT_LIB:-0}" = 1 ] || main "$@"
