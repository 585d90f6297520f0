#!/usr/bin/env bash
# Start a local kubelite cluster with a demo workload (placeholder: the real
# work is `kl up --demo`). Arguments go to `kl up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kl up --demo "$@"
