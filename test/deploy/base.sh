#!/usr/bin/env bash
# Builds the local base image the deployment tests build FROM, since no
# image can be pulled here: a minimal Debian trixie (debootstrap minbase,
# from the mirror apt already uses) with Debian's nodejs (20) and npm, and a
# `node` user of uid 1000 standing in for the official node image's.
#
#   test/deploy/base.sh            # prints the image name, builds it if missing
#
# The image is named after a hash of this script, so a machine builds it
# once and every later run reuses it; a change here builds a new one.
# Needs root, debootstrap and podman (CONTAINERS_CONF=test/deploy/containers.conf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
key=$(sha256sum "$0" | cut -c1-12)
image="localhost/gwserver-base:$key"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
cache=${GWSERVER_DEPLOY_CACHE:-/var/cache/gwserver-deploy}
mkdir -p "$cache"
exec 9>"$cache/base.lock"
flock 9
# Another run may have built it while this one waited for the lock.
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "base: debootstrap trixie from $mirror (a few minutes, once per machine)" >&2
log="$cache/base.log"
# debootstrap's own resolver cannot install npm's dependency tree (it
# leaves node-gauge unconfigured), so apt does that part inside the root.
{
  debootstrap --variant=minbase --include=ca-certificates trixie "$root" "$mirror" &&
    cp /etc/resolv.conf "$root/etc/resolv.conf" &&
    chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm'
} >"$log" 2>&1 || {
  tail -n 20 "$log" >&2
  exit 1
}
chroot "$root" useradd -u 1000 -m -s /bin/bash node
chroot "$root" apt-get clean
: >"$root/etc/resolv.conf"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
echo "deb $mirror trixie main" >"$root/etc/apt/sources.list"
tar -C "$root" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' - "$image" >/dev/null
echo "$image"
