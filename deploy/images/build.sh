#!/usr/bin/env bash
# Build the local images (no registry is reachable, so everything is built
# here, offline): kubelite/demo:latest and ${ETCD_IMAGE:-kubelite/etcd:3.5.1}.
# The one implementation is `kl images build` (kubelite/images/, whose
# Dockerfiles and files ship in the package); this script runs it with the
# checkout's .venv (scripts/setup.sh makes it), else python3.
# Usage: build.sh [--force] [demo|etcd]...   (default: all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
py="$ROOT/.venv/bin/python"
[[ -x "$py" ]] || py=python3
exec "$py" -m kubelite.cli images build "$@"
