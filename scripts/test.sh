#!/usr/bin/env bash
# THE test command: set up (idempotent, fast when done), then run pytest.
# Arguments go to pytest; default: the whole tests/ directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(($#)) || set -- tests/
rc=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || rc=$?
if ((rc == 5)); then
    echo "[test] pytest collected no tests: treating that as a failure" >&2
    exit 5
fi
exit "$rc"
