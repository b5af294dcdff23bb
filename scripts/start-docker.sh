#!/usr/bin/env bash
# Make sure a Docker engine answers, starting one if needed (needs root for that). Idempotent.
#
# When `docker info` already works it only makes sure debootstrap is there (as root), which the
# sandbox image's registry-free build needs. Otherwise it installs Debian's docker.io and
# debootstrap when missing, starts dockerd in the background (log: $DOCKERD_LOG, default
# /tmp/dockerd.log) and waits up to 60 s for it to answer.
set -euo pipefail

log="${DOCKERD_LOG:-/tmp/dockerd.log}"
say() { echo "[start-docker] $*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
    local missing=("$@")
    [ "${#missing[@]}" -gt 0 ] || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        say "cannot install ${missing[*]}: no apt-get here; install them by hand." >&2
        exit 1
    fi
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if docker info >/dev/null 2>&1; then
    if is_root && ! command -v debootstrap >/dev/null 2>&1; then
        apt_install debootstrap
    fi
    say "the Docker engine is running"
    exit 0
fi

if ! is_root; then
    say "no Docker engine answers and starting one needs root: run \`sudo $0\`, or start Docker" \
        "your usual way (\`sudo systemctl start docker\`) and make sure your user may use it." >&2
    exit 1
fi

missing=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    missing+=(docker.io)
fi
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# docker.io recommends these; with --no-install-recommends make sure the ones dockerd needs are in.
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
apt_install "${missing[@]}"

if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but does not answer yet; waiting for it"
else
    say "starting dockerd (log: $log)"
    nohup dockerd >"$log" 2>&1 </dev/null &
fi

for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        say "the Docker engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
        exit 0
    fi
    sleep 1
done

say "dockerd did not answer within 60 s. Last lines of $log:" >&2
tail -n 40 "$log" >&2 2>/dev/null || true
exit 1
