#!/usr/bin/env bash
# Project set-up, idempotent and fast on a re-run:
#   1. .venv with the project installed editable (re-installed only when
#      pyproject.toml changed since the last install),
#   2. a running Docker Engine (installed with apt and started when missing),
#   3. the local images (`kl images build` via deploy/images/build.sh; no registry is reachable).
# If Docker cannot be had, say so and carry on: tests that need it fail loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }

# Several checkouts or test runs may set up at once; apt, dockerd and the
# image builds are machine-wide, so serialise the whole script.
exec 9>"${TMPDIR:-/tmp}/kubelite-setup.lock"
flock 9

# --- 1. Python environment -------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
fi
stamp=.venv/.kubelite-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    log "installing the project and its dev dependencies (pyproject.toml changed)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
    printf '%s\n' "$want" >"$stamp"
else
    log "python environment up to date"
fi

# --- 2. Docker Engine ------------------------------------------------------
docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

apt_install() {  # apt_install PKG...: runs `apt-get update` only when needed
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    if ! apt-cache show "$@" >/dev/null 2>&1; then
        apt-get -o DPkg::Lock::Timeout=120 update -qq 9>&-
    fi
    # 9>&-: a daemon a package's postinst may start must not inherit our lock.
    apt-get -o DPkg::Lock::Timeout=120 install -y -qq "$@" >/dev/null 9>&-
}

ensure_docker() {
    if docker_answers; then
        log "docker engine answers"
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        warn "Docker Engine is not running and this is not root: cannot install or start it"
        return 1
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        log "installing docker.io with apt"
        apt_install docker.io || { warn "apt-get install docker.io failed"; return 1; }
    fi
    # A dockerd may already be starting (e.g. started by hand); do not race it.
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        log "starting dockerd (log: /var/log/dockerd.log)"
        setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null 9>&- &
    fi
    local deadline=$((SECONDS + 60))
    until docker_answers; do
        if ((SECONDS >= deadline)); then
            warn "dockerd did not answer within 60 s; last lines of /var/log/dockerd.log:"
            tail -n 20 /var/log/dockerd.log >&2 || true
            return 1
        fi
        sleep 0.3
    done
    log "docker engine started"
}

if ensure_docker; then
    # --- 3. Local images ---------------------------------------------------
    bash deploy/images/build.sh
else
    warn "continuing WITHOUT Docker: tests that need it will fail"
fi
# --- 4. Prometheus (the real-Prometheus test scrapes a kl up cluster with it) ----
if command -v prometheus >/dev/null 2>&1; then
    log "prometheus present"
elif [[ "$(id -u)" == 0 ]]; then
    log "installing prometheus with apt"
    apt_install --no-install-recommends prometheus || warn "apt-get install prometheus failed"
else
    warn "prometheus is missing and this is not root: the real-Prometheus test will fail"
fi
# --- 5. A browser for the dashboard's tests (tests/ui) ------------------------
# Playwright drives Debian's chromium (its own browser download cannot work here).
if [[ -x /usr/bin/chromium ]]; then
    log "chromium present"
elif [[ "$(id -u)" == 0 ]]; then
    log "installing chromium with apt (tests/ui)"
    apt_install chromium chromium-driver || warn "apt-get install chromium failed: tests/ui will fail"
else
    warn "no /usr/bin/chromium and not root: tests/ui will fail"
fi
# --- 6. The oci runtime's tools (issue 18: runc, CNI plugins, umoci, skopeo; the RuntimeDefault
# seccomp profile /usr/share/containers/seccomp.json of golang-github-containers-common, skopeo's dependency) ----
if command -v runc >/dev/null && command -v umoci >/dev/null && command -v skopeo >/dev/null \
        && [[ -x /usr/lib/cni/bridge ]] && [[ -f /usr/share/containers/seccomp.json ]]; then
    log "oci runtime tools present"
elif [[ "$(id -u)" == 0 ]]; then
    log "installing runc, containernetworking-plugins, umoci, skopeo and the seccomp profile with apt"
    apt_install runc containernetworking-plugins umoci skopeo golang-github-containers-common \
        || warn "apt-get install of the oci tools failed"
else
    warn "runc/CNI plugins/umoci/skopeo missing and this is not root: the oci runtime tests will fail"
fi
# --- 7. libfaketime: the clock-skew chaos fault (kubelite.testing.clock, issue 20) ----
if compgen -G "/usr/lib/*/faketime/libfaketimeMT.so.1" >/dev/null; then
    log "libfaketime present"
elif [[ "$(id -u)" == 0 ]]; then
    log "installing libfaketime with apt"
    apt_install libfaketime || warn "apt-get install libfaketime failed: tests/chaos/test_host_faults.py will fail"
else
    warn "libfaketime missing and this is not root: the clock-skew chaos test will fail"
fi
log "done"
