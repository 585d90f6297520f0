#!/usr/bin/env bash
# The official Python client's own end-to-end tests (kubernetes-client/python,
# kubernetes/e2e_test) against a fresh `kl up --runtime sim` cluster (or docker: PEER_RUNTIME): a
# peer's test suite as a compatibility check. Not part of CI, because the test files come from
# outside the project.
#
#   bash bench/peer_pyclient.sh [PYTEST ARGS...]     e.g. -k test_apps
#
# Environment:
#   PYCLIENT_SRC   a checkout, or a bare git directory, of kubernetes-client/python
#                  (default: cloned from GitHub once into ~/.cache/kubelite/pyclient-python)
#   PYCLIENT_REF   the commit or tag to take the tests from (default: the checkout's HEAD)
#   PEER_LOG       a file to keep pytest's whole output in (tracebacks of the failures)
#   KUBECONFIG     with KUBELITE_PEER_EXISTING=1: test the cluster it names instead of starting one
#   PEER_RUNTIME   sim (default) or docker. The exec and port-forward tests need docker: their pods
#                  run the images busybox, nginx and python, which no registry serves here, so
#                  stand-ins are tagged for the run (busybox = kubelite/demo; nginx = it with httpd
#                  serving nginx's welcome page on port 80; python = an echo server on the ports its
#                  arguments name, what the test's port-server.py is) and removed afterwards (only
#                  tags this script made).
#
# Prints pytest's line per test (PASSED / FAILED / SKIPPED) and the totals; exits with pytest's status.
# The tests run against the python client installed in .venv (PyPI `kubernetes`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup.sh >/dev/null
PY=$ROOT/.venv/bin/python

src=${PYCLIENT_SRC:-$HOME/.cache/kubelite/pyclient-python}
if [[ ! -e $src ]]; then
    echo "[peer] cloning kubernetes-client/python into $src"
    git clone -q --depth 1 https://github.com/kubernetes-client/python "$src"
fi
ref=${PYCLIENT_REF:-HEAD}
work=$(mktemp -d "${TMPDIR:-/tmp}/kl-peer-pyclient.XXXXXX")
up_pid=""
runtime=${PEER_RUNTIME:-sim}
made_tags=()
cleanup() {
    for tag in "${made_tags[@]}"; do docker rmi "$tag" >/dev/null 2>&1 || true; done
    if [[ -n $up_pid ]]; then
        kill -INT "$up_pid" 2>/dev/null || true
        for _ in $(seq 1 120); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$up_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The tests import `kubernetes.e2e_test`: extract them beside the installed package and
# extend its __path__ from a conftest, so the installed client is the one under test.
mkdir -p "$work/tests/kubernetes"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$src" archive "$ref" kubernetes/e2e_test 2>/dev/null | tar -x -C "$work/tests"
else
    cp -r "$src/kubernetes/e2e_test" "$work/tests/kubernetes/"
fi
cat >"$work/tests/conftest.py" <<'PY'
import pathlib

import kubernetes

kubernetes.__path__.append(str(pathlib.Path(__file__).parent / "kubernetes"))
PY
echo "[peer] tests from $src ($(git -C "$src" rev-parse --short "$ref" 2>/dev/null || echo copy)), client $($PY -c 'import kubernetes; print(kubernetes.__version__)')"

stand_in_images() {
    bash "$ROOT/deploy/images/build.sh" demo >/dev/null
    if ! docker image inspect busybox:latest >/dev/null 2>&1; then
        docker tag kubelite/demo:latest busybox:latest && made_tags+=(busybox:latest)
    fi
    if ! docker image inspect nginx:latest >/dev/null 2>&1; then
        mkdir -p "$work/nginx"
        printf '<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n' >"$work/nginx/index.html"
        printf 'FROM kubelite/demo:latest\nCOPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n' \
            >"$work/nginx/Dockerfile"
        docker build -q -t nginx:latest "$work/nginx" >/dev/null 2>&1 && made_tags+=(nginx:latest)
    fi
    if ! docker image inspect python:latest >/dev/null 2>&1; then
        # test_portforward_raw runs `python -u /opt/port-server.py 1234 1235` (an echo server on each
        # port, its script from a configMap volume, which kubelite does not mount): the stand-in
        # `python` is that echo server, busybox `nc -ll -e cat` per port given
        mkdir -p "$work/python"
        printf '#!/bin/sh\nfor a in "$@"; do case $a in *[!0-9]*) ;; *) nc -ll -p "$a" -e cat & ;; esac; done\nwait\n' \
            >"$work/python/python"
        printf 'FROM kubelite/demo:latest\nCOPY python /bin/python\n' >"$work/python/Dockerfile"
        chmod 0755 "$work/python/python"
        docker build -q -t python:latest "$work/python" >/dev/null 2>&1 && made_tags+=(python:latest)
    fi
    echo "[peer] stand-in images for busybox, nginx and python (tags made: ${made_tags[*]:-none})"
}
[[ $runtime == docker ]] && stand_in_images

if [[ ${KUBELITE_PEER_EXISTING:-0} != 1 ]]; then
    port=$($PY -c 'from kubelite.etcd.server import free_port; print(free_port())')
    mkdir -p "$work/up" && chmod 700 "$work/up"
    setsid "$ROOT/.venv/bin/kl" up --runtime "$runtime" --nodes 2 --listen "127.0.0.1:$port" --data-dir "$work/up" \
        >"$work/up.log" 2>&1 </dev/null &
    up_pid=$!
    for _ in $(seq 1 240); do
        grep -q "kubelite is up" "$work/up.log" && break
        kill -0 "$up_pid" 2>/dev/null || { echo "[peer] kl up failed:"; tail -5 "$work/up.log"; exit 2; }
        sleep 0.5
    done
    grep -q "kubelite is up" "$work/up.log" || { echo "[peer] kl up did not come up"; tail -5 "$work/up.log"; exit 2; }
    export KUBECONFIG=$work/up/kubeconfig
    echo "[peer] kl up --runtime $runtime on 127.0.0.1:$port"
fi

cd "$work/tests"
rc=0
COLUMNS=400 "$PY" -m pytest -p no:cacheprovider -rA -q --timeout 180 kubernetes/e2e_test "$@" >"$work/pytest.log" 2>&1 || rc=$?
grep -E "^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) |^=+ .*(passed|failed|error|skipped)" "$work/pytest.log" || tail -20 "$work/pytest.log"
if [[ -n ${PEER_LOG:-} ]]; then cp "$work/pytest.log" "$PEER_LOG"; fi
exit "$rc"
