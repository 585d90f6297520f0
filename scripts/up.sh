#!/usr/bin/env bash
# Start a local kubelite cluster in the foreground, with the demo workload:
# set up (idempotent: venv, Docker Engine when possible, local images), then
# `kl up --demo`: embedded etcd, controller-manager, gateway and 2 agents
# (docker runtime when a Docker Engine answers, else the sim runtime), then
# examples/web.yaml. Ctrl-C stops everything and removes the containers.
# Arguments go to `kl up` (e.g. --nodes 3, --runtime sim, --listen 127.0.0.1:8081,
# --data-dir DIR, --keep); logs are in <data-dir>/logs (default ~/.kubelite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kl up --demo "$@"
