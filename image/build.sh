#!/bin/bash
# make image: build build/xnai-edge-amd64.img (raw GPT disk, UEFI x86-64) and its .zst/.bmap.
#
# Why these tools (docs/image.md): mmdebstrap builds the bookworm root in a directory without
# loop devices; the ESP is made as a file with mtools (mkfs.vfat -C + mcopy) because the build
# host's kernel has no vfat to mount; the root is a file made by mkfs.ext4 -d; sfdisk lays out
# the GPT with fixed GUIDs in a plain file; systemd-boot is copied, not `bootctl install`ed.
# Nothing is mounted and no loop device is used, so it runs in a container as root.
#
# Environment: IMAGE_SOURCE=HEAD (git archive of the last commit, default) | worktree;
# IMAGE_MODEL_SET=tiny | standard; IMAGE_MODELS_SRC=DIR (a models dir holding standard/...);
# IMAGE_MIRROR (Debian mirror); IMAGE_SUITE (bookworm); IMAGE_COMPRESS=0 to skip the .zst.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT="$REPO/build"
WORK="$OUT/image-work"
CACHE="$OUT/cache"
IMG="$OUT/xnai-edge-amd64.img"
SOURCE="${IMAGE_SOURCE:-HEAD}"
MODEL_SET="${IMAGE_MODEL_SET:-tiny}"
MIRROR="${IMAGE_MIRROR:-http://deb.debian.org/debian}"
SUITE="${IMAGE_SUITE:-bookworm}"
HOST_PY="${IMAGE_HOST_PYTHON:-$REPO/.venv/bin/python}"
. "$REPO/image/layout.sh"

t0=$(date +%s)
# mmdebstrap sometimes leaves the root's /sys mounted ("target is busy"): lazily unmount
# whatever is still mounted under $1 before the tree is copied into ext4 or deleted.
unmount_under() {
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
}
step() { echo "== image: $* ($(( $(date +%s) - t0 )) s)"; }
die() { echo "error[image]: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root, file ownership in the image)"
for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy mmd sfdisk zstd; do
    command -v "$tool" > /dev/null || die "$tool is missing: make image installs IMAGE_APT_PACKAGES"
done
[ -x "$HOST_PY" ] || die "$HOST_PY is missing: run make install first"
avail_mb=$(df -Pm "$REPO" | awk 'NR==2 {print $4}')
[ "$avail_mb" -gt 12000 ] || die "only $avail_mb MB free under $REPO; the build needs ~12 GB"

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}"
export TZ=UTC LC_ALL=C.UTF-8
unmount_under "$WORK"
rm -rf --one-file-system "$WORK"
mkdir -p "$WORK" "$CACHE"

step "source ($SOURCE)"
SRC="$WORK/src"
mkdir -p "$SRC"
if [ "$SOURCE" = HEAD ]; then
    git -C "$REPO" archive --format=tar HEAD | tar -x -C "$SRC"
    COMMIT=$(git -C "$REPO" rev-parse HEAD)
else
    tar -C "$REPO" --exclude=./build --exclude=./.venv --exclude=./.git -c . | tar -x -C "$SRC"
    COMMIT="$(git -C "$REPO" rev-parse HEAD)+worktree"
fi

step "project wheel"
"$HOST_PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$SRC"

step "llama-cpp-python, portable for Zen 2/3 (cached in $CACHE/llama-portable)"
LLAMA_VERSION=$(sed -n 's/^llama_cpp_python==//p' "$SRC/requirements.lock")
[ -n "$LLAMA_VERSION" ] || die "llama_cpp_python is not pinned in requirements.lock"
LLAMA_DIR="$CACHE/llama-portable"
if ! ls "$LLAMA_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl > /dev/null 2>&1; then
    mkdir -p "$LLAMA_DIR"
    # Never -march=native: the build host has AVX-512, a Ryzen 5700U has not (SIGILL).
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$HOST_PY" -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -w "$LLAMA_DIR" "llama_cpp_python==$LLAMA_VERSION"
fi
LLAMA_WHEEL=$(ls "$LLAMA_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl)
# Disassembling 30 libraries takes minutes on a busy host: remembered per wheel hash.
llama_sum=$(sha256sum "$LLAMA_WHEEL" | cut -d' ' -f1)
if [ "$(cat "$LLAMA_WHEEL.no-avx512" 2>/dev/null)" != "$llama_sum" ]; then
    "$HOST_PY" "$REPO/image/check_wheel.py" "$LLAMA_WHEEL"
    echo "$llama_sum" > "$LLAMA_WHEEL.no-avx512"
fi

step "wheelhouse from requirements.lock (+ image/constraints-bookworm.txt)"
WHEELS="$WORK/wheelhouse"
CONSTRAINTS="$WORK/constraints.txt"
mkdir -p "$WHEELS"
cp "$LLAMA_WHEEL" "$WHEELS/"
# The lock, with the packages named in constraints-bookworm.txt taken from there instead.
awk 'function key(line) { sub(/[=<>!~ ;].*/, "", line); line = tolower(line);
                          gsub(/_/, "-", line); return line }
     FNR == NR { if ($0 !~ /^#/ && NF) { over[key($0)] = 1; lines = lines $0 "\n" }; next }
     !($0 !~ /^#/ && NF && key($0) in over) { print }
     END { printf "%s", lines }' "$SRC/image/constraints-bookworm.txt" \
    "$SRC/requirements.lock" > "$CONSTRAINTS"
"$HOST_PY" -m pip wheel -q -c "$CONSTRAINTS" --find-links "$LLAMA_DIR" \
    -w "$WHEELS" "$WORK"/dist/*.whl
cmp -s "$LLAMA_WHEEL" "$WHEELS/$(basename "$LLAMA_WHEEL")" \
    || die "the wheelhouse holds another llama-cpp-python wheel than the portable one"
[ "$(ls "$WHEELS"/llama_cpp_python-*.whl | wc -l)" = 1 ] || die "two llama-cpp-python wheels"

step "models ($MODEL_SET)"
MODELS="$CACHE/models"
if [ -n "${IMAGE_MODELS_SRC:-}" ]; then
    MODELS="$IMAGE_MODELS_SRC"
else
    [ "$MODEL_SET" = tiny ] || die "IMAGE_MODEL_SET=$MODEL_SET needs IMAGE_MODELS_SRC=DIR"
    XNAI_EDGE_MANIFEST="$SRC/config/models.toml" "$REPO/.venv/bin/xnai-edge" \
        --models-dir "$MODELS" models install --set tiny
fi
XNAI_EDGE_MANIFEST="$SRC/config/models.toml" "$REPO/.venv/bin/xnai-edge" \
    --models-dir "$MODELS" models verify --set "$MODEL_SET" \
    || die "the $MODEL_SET models in $MODELS do not verify"

step "root file system (mmdebstrap $SUITE)"
ROOTFS="$WORK/rootfs"
PACKAGES=$(grep -v '^#' "$REPO/image/packages.txt" | grep . | paste -sd, -)
export XNAI_SRC="$SRC" XNAI_DIST="$WORK/dist" XNAI_WHEELHOUSE="$WHEELS" XNAI_MODELS="$MODELS"
export XNAI_MODEL_SET="$MODEL_SET" XNAI_MANIFEST_OUT="$OUT/xnai-edge-amd64.manifest"
mmdebstrap --mode=root --variant=minbase --format=directory \
    --components="main non-free-firmware" --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook="$SRC/image/customize.sh \"\$1\"" \
    "$SUITE" "$ROOTFS" \
    "deb $MIRROR $SUITE main non-free-firmware" \
    "deb $MIRROR $SUITE-updates main non-free-firmware" \
    "deb ${MIRROR%/debian}/debian-security $SUITE-security main non-free-firmware"

unmount_under "$ROOTFS"

step "identity-free /etc, fstab, boot files"
printf 'uninitialized\n' > "$ROOTFS/etc/machine-id"
printf '%s\n' "$PLACEHOLDER_HOSTNAME" > "$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    "$PLACEHOLDER_HOSTNAME" > "$ROOTFS/etc/hosts"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
render_fstab > "$ROOTFS/etc/fstab"
printf 'XNAI_EDGE_COMMIT=%s\nXNAI_EDGE_BUILD_EPOCH=%s\nXNAI_EDGE_MODEL_SET=%s\n' \
    "$COMMIT" "$SOURCE_DATE_EPOCH" "$MODEL_SET" > "$ROOTFS/usr/lib/xnai-edge/build-info"
ESP="$WORK/esp"
mkdir -p "$ESP/EFI/BOOT" "$ESP/EFI/systemd" "$ESP/loader/entries" "$ESP/xnai-edge"
cp "$ROOTFS/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$ESP/EFI/BOOT/BOOTX64.EFI"
cp "$ROOTFS/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$ESP/EFI/systemd/systemd-bootx64.efi"
mv "$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)" "$ESP/xnai-edge/vmlinuz"
mv "$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -1)" "$ESP/xnai-edge/initrd.img"
rm -f "$ROOTFS"/boot/vmlinuz* "$ROOTFS"/boot/initrd.img* "$ROOTFS"/vmlinuz* "$ROOTFS"/initrd.img*
render_loader_conf > "$ESP/loader/loader.conf"
render_boot_entry > "$ESP/loader/entries/xnai-edge.conf"
"$REPO/image/check_rootfs.sh" "$ROOTFS"

step "file systems and disk"
# Every mtime clamped to the source date: same inputs, same bytes.
find "$ROOTFS" "$ESP" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$WORK/esp.img" "$WORK/root.img"
root_mb=$(root_size_mb "$(du -sm --apparent-size "$ROOTFS" | cut -f1)")
E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" mkfs.ext4 -q -F -t ext4 -L xnai-root -U "$ROOT_FS_UUID" \
    -E "hash_seed=$ROOT_FS_HASH_SEED" -m 1 -d "$ROOTFS" "$WORK/root.img" "${root_mb}M"
mkfs.vfat -C -F 32 -n XNAI-ESP -i "$ESP_VOLUME_ID" --invariant "$WORK/esp.img" \
    $(( ESP_MB * 1024 )) > /dev/null
(cd "$ESP" && MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$WORK/esp.img" ./* ::/)
rm -f "$IMG" "$IMG.zst" "$IMG.bmap"
truncate -s "$(( $(disk_size_mb "$root_mb") ))M" "$IMG.tmp"
render_sfdisk "$root_mb" | sfdisk -q "$IMG.tmp"
dd if="$WORK/esp.img" of="$IMG.tmp" bs=1M seek="$ESP_START_MB" conv=notrunc,sparse status=none
dd if="$WORK/root.img" of="$IMG.tmp" bs=1M seek="$(( ESP_START_MB + ESP_MB ))" \
    conv=notrunc,sparse status=none
mv "$IMG.tmp" "$IMG"
rm -f "$WORK/esp.img" "$WORK/root.img"

if [ "${IMAGE_COMPRESS:-1}" = 1 ]; then
    step "compress"
    zstd -q -T0 -10 -f "$IMG" -o "$IMG.zst"
    if command -v bmaptool > /dev/null; then bmaptool -q create -o "$IMG.bmap" "$IMG"; fi
fi
(cd "$OUT" && sha256sum "$(basename "$IMG")" > "$(basename "$IMG").sha256")
rm -rf --one-file-system "$ROOTFS"
step "done: $IMG ($(du -h --apparent-size "$IMG" | cut -f1) raw, $(du -h "$IMG" | cut -f1) allocated)"
