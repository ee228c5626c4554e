#!/usr/bin/env bash
# Build the mailgate container image without a registry (deploy/Dockerfile):
#   1. a Debian 12 root with debootstrap, from the mirror apt already uses;
#   2. imported as the local base image (buildah from scratch + add + commit);
#   3. buildah bud --isolation chroot with DEBIAN_IMAGE set to that base.
# Needs root and the Debian packages buildah and debootstrap.
#
# Usage: scripts/build-image.sh [TAG]     (default localhost/mailgate:dev)
# Environment: MAILGATE_IMAGE_WORKDIR (default /var/tmp/mailgate-image; the
#   debootstrap root is kept there and reused), DEBIAN_MIRROR (default: the first
#   URI of apt's Debian sources, else http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-localhost/mailgate:dev}
BASE=localhost/mailgate-base:bookworm
WORK=${MAILGATE_IMAGE_WORKDIR:-/var/tmp/mailgate-image}

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not installed (apt-get install $tool)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "build-image: debootstrap needs root" >&2; exit 1; }

mirror=${DEBIAN_MIRROR:-}
if [[ -z "$mirror" ]]; then
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
             /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | awk '{print $2}' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$WORK"
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  if [[ ! -f "$WORK/rootfs/etc/debian_version" ]]; then
    echo "build-image: debootstrap bookworm from $mirror into $WORK/rootfs"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror"
  fi
  # The image's apt must find packages where debootstrap did.
  echo "deb $mirror bookworm main" > "$WORK/rootfs/etc/apt/sources.list"
  tar -C "$WORK/rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$WORK/rootfs.tar" /   # a local tar is unpacked
  buildah config --cmd /bin/bash "$ctr"
  buildah commit --rm "$ctr" "$BASE"
  rm -f "$WORK/rootfs.tar"
fi

echo "build-image: buildah bud -> $TAG"
buildah bud --isolation chroot --layers=false \
  --build-arg DEBIAN_IMAGE="$BASE" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -f deploy/Dockerfile -t "$TAG" .
echo "build-image: built $TAG"
