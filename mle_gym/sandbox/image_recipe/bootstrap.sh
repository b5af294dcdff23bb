#!/usr/bin/env bash
# Build the sandbox's base image from Debian packages, for machines that reach no image registry.
#
#   bootstrap.sh [TAG]        (default TAG: mle-gym-base:bookworm)
#
# debootstrap makes a minimal Debian bookworm root filesystem with Python 3, its venv module,
# CA certificates and the OpenMP runtime; docs, man pages, locales and apt's caches are dropped
# (and kept out of later installs, as in debian:*-slim); `docker import` turns it into an image.
# The root filesystem is removed on exit, whatever happens.
#
# Needs root, debootstrap (`apt-get install debootstrap`) and the docker CLI.
# Environment:
#   MLE_GYM_DEBIAN_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   MLE_GYM_DEBIAN_SUITE    Debian suite (default bookworm: Python 3.11)
#   MLE_GYM_BOOTSTRAP_DIR   where the root filesystem is made (default /var/tmp; must allow
#                           device nodes and executables, so not a nodev/noexec tmpfs)
set -euo pipefail

tag="${1:-mle-gym-base:bookworm}"
mirror="${MLE_GYM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${MLE_GYM_DEBIAN_SUITE:-bookworm}"
packages="python3,python3-venv,ca-certificates,libgomp1"

log() { echo "[bootstrap] $*"; }
die() { echo "[bootstrap] error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: run as root (sudo)."
command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap is missing: install it with \`apt-get install debootstrap\` (as root)."
command -v docker >/dev/null 2>&1 || die "the docker CLI is missing."
docker info >/dev/null 2>&1 || die "no Docker engine answers \`docker info\`."

parent="${MLE_GYM_BOOTSTRAP_DIR:-/var/tmp}"
mkdir -p "$parent"
work="$(mktemp -d "$parent/mle-gym-rootfs.XXXXXX")"
rootfs="$work/rootfs"

cleanup() {
    local status=$?
    # debootstrap unmounts what it mounts, but a killed run can leave /proc or /sys mounted in
    # the target: unmount everything under it first, deepest first, and never cross into a mount.
    if [ -d "$work" ]; then
        awk -v w="$work" '$2 == w || index($2, w "/") == 1 { print $2 }' /proc/mounts \
            | sort -r | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
        rm -rf --one-file-system "$work"
        log "removed $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "debootstrap $suite (minbase, with $packages) from $mirror into $rootfs"
start=$SECONDS
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror"
log "debootstrap finished in $((SECONDS - start)) s"

log "slimming the root filesystem"
# What debian:*-slim leaves out, now and on later installs.
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
# Do not keep downloaded packages, as in the registry's Debian images.
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/*
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old "$rootfs"/tmp/* \
    "$rootfs"/root/.cache
# Docker provides these at run time; the host's must not end up in the image.
: > "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/hostname"
log "root filesystem: $(du -sh --one-file-system "$rootfs" | cut -f1)"

log "importing it as $tag"
tar --numeric-owner --xattrs -C "$rootfs" -c . \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'LABEL org.mle-gym.base=1' \
        --change 'CMD ["bash"]' \
        -m "debootstrap --variant=minbase $suite $mirror" \
        - "$tag"
log "base image ready: $tag ($((SECONDS - start)) s in all)"
