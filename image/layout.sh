# shellcheck shell=sh
# The disk layout and boot configuration of the xnai-edge image, as constants and small
# functions that print files.  Sourced by build.sh; tests/unit/test_image_layout.py runs the
# functions, so what the image boots with is checked in `make test` without building it.
#
# Fixed GUIDs and UUIDs: the same inputs give the same bytes, and the kernel command line can
# name the root by PARTUUID before anything is generated on the device.  They identify the
# *image*, not a device (every device flashed from it shares them, as with any disk image).

ESP_START_MB=1
ESP_MB=256
DISK_GUID=9d1e7b2a-5c0f-4f38-9a41-0c3e5d7a1b01
ESP_PARTUUID=9d1e7b2a-5c0f-4f38-9a41-0c3e5d7a1b02
ROOT_PARTUUID=9d1e7b2a-5c0f-4f38-9a41-0c3e5d7a1b03
ROOT_FS_UUID=9d1e7b2a-5c0f-4f38-9a41-0c3e5d7a1b04
ROOT_FS_HASH_SEED=9d1e7b2a-5c0f-4f38-9a41-0c3e5d7a1b05
ESP_VOLUME_ID=9D1E7B2A
# GPT partition types: EFI System, and "Linux root (x86-64)" of the Discoverable Partitions
# Specification (systemd-gpt-auto-generator and systemd-repart know it by that type).
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
ROOT_TYPE=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
PLACEHOLDER_HOSTNAME=xnai-edge
# llama.cpp for Zen 2/3 (Ryzen 3000-5000; 5700U = Zen 2): AVX2, FMA, F16C -- never the build
# host's -march=native (these build machines have AVX-512; a 5700U dies with SIGILL on it).
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"

# Root file system size for a tree of $1 MiB: 15 % + 512 MiB free for the first boot (logs, the
# knowledge base) on a disk as small as the image; first boot grows it to the disk anyway.
# Rounded up to 64 MiB.
root_size_mb() {
    size=$(( $1 + $1 * 15 / 100 + 512 ))
    echo $(( (size + 63) / 64 * 64 ))
}

# Whole disk: 1 MiB of GPT and alignment, the ESP, the root, 1 MiB for the backup GPT.
disk_size_mb() {
    echo $(( ESP_START_MB + ESP_MB + $1 + 1 ))
}

render_sfdisk() {
    root_mb="$1"
    cat <<EOT
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: 2048
sector-size: 512

start=$(( ESP_START_MB * 2048 )), size=$(( ESP_MB * 2048 )), type=$ESP_TYPE, uuid=$ESP_PARTUUID, name="esp"
start=$(( (ESP_START_MB + ESP_MB) * 2048 )), size=$(( root_mb * 2048 )), type=$ROOT_TYPE, uuid=$ROOT_PARTUUID, name="xnai-root"
EOT
}

# noatime + a 30 s commit: read-mostly, few writes to an SSD or SD card; /var/lib/xnai-edge
# stays on this ext4 so a recovery tool (debugfs, any Linux) can read the device's state.
render_fstab() {
    printf '# xnai-edge image: root by PARTUUID (fixed in image/layout.sh); the ESP is not mounted.\n'
    printf 'PARTUUID=%s\t/\text4\tdefaults,noatime,commit=30,errors=remount-ro\t0\t1\n' \
        "$ROOT_PARTUUID"
}

render_loader_conf() {
    # No menu, no editing of the kernel command line at the boot prompt (init=/bin/sh).
    printf 'default xnai-edge.conf\ntimeout 0\neditor no\nconsole-mode keep\n'
}

# console=ttyS0 last: systemd's status lines go to /dev/console, the serial port (a VM's log);
# the kernel's messages go to both.  show_status=yes despite quiet: "[  OK  ] Started ...".
render_boot_entry() {
    cat <<EOT
title xnai-edge
linux /xnai-edge/vmlinuz
initrd /xnai-edge/initrd.img
options root=PARTUUID=$ROOT_PARTUUID rw rootwait console=tty0 console=ttyS0,115200n8 quiet systemd.show_status=yes panic=10
EOT
}
