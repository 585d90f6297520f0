#!/usr/bin/env bash
# THE test command: set up (idempotent, fast when done), then run pytest.
# Arguments go to pytest; default: the whole tests/ directory.
#
# Two phases (README.md says so under its two commands):
#   1. every test not marked `serial`, on $KL_TEST_WORKERS pytest-xdist workers (default 2, one per core);
#      one worker runs the end-to-end tests (clusters, containers, browser, wheel builds) one after another,
#      the other the in-process tests, a file at a time (tests/conftest.py's
#      pytest_xdist_make_scheduler);
#   2. the `serial` tests (pyproject.toml's marker: they must not share the machine), one at a time.
# Both run whatever the other's outcome; the exit code fails if either failed. A phase that has nothing
# to run in the selection is fine, but if neither collected a test that is a failure (pytest's rc 5).
# KL_TEST_WORKERS=0 runs a single plain pytest (all tests in one process: for --pdb and the like).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(($#)) || set -- tests/
# what a killed earlier run left of the oci tests' CNI network (netns, hostPort DNAT rules on 127.0.0.1)
.venv/bin/python -c 'from tests.agent.runtimes import remove_earlier_runs; remove_earlier_runs()'
workers=${KL_TEST_WORKERS:-2}
pytest=(.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15)  # the slowest, to keep the run short

no_tests() {
    echo "[test] pytest collected no tests: treating that as a failure" >&2
    exit 5
}

if ((workers == 0)); then
    rc=0
    "${pytest[@]}" "$@" || rc=$?
    ((rc == 5)) && no_tests
    exit "$rc"
fi

started=$SECONDS
echo "[test] phase 1 of 2: tests not marked serial, on $workers workers"
rc1=0
"${pytest[@]}" -n "$workers" --kl-phase parallel "$@" || rc1=$?
echo "[test] phase 1 done in $((SECONDS - started)) s (exit $rc1)"
started=$SECONDS
echo "[test] phase 2 of 2: tests marked serial, one at a time"
rc2=0
"${pytest[@]}" --kl-phase serial "$@" || rc2=$?
echo "[test] phase 2 done in $((SECONDS - started)) s (exit $rc2)"

# rc 5: the phase had no test to run (all deselected for the other phase, or none collected)
if ((rc1 == 5 && rc2 == 5)); then
    no_tests
fi
for rc in "$rc1" "$rc2"; do
    if ((rc != 0 && rc != 5)); then
        echo "[test] FAILED: phase 1 exit $rc1, phase 2 exit $rc2" >&2
        exit "$rc"
    fi
done
exit 0
