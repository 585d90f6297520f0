#!/usr/bin/env bash
# Build the local images (no registry is reachable, so everything is built
# here, offline, with the legacy builder):
#   demo  kubelite/demo:latest   FROM scratch + static busybox + /www/index.html
#   etcd  ${ETCD_IMAGE:-kubelite/etcd:3.5.1}  (deploy/etcd/build.sh)
# Usage: build.sh [--force] [demo|etcd]...   (default: all)
# An image is built only when missing or when its inputs changed (a hash kept
# in the image label org.kubelite.inputs); --force rebuilds.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
DEMO_IMAGE=kubelite/demo:latest

force=()
targets=()
for arg in "$@"; do
    case "$arg" in
        --force) force=(--force) ;;
        demo|etcd) targets+=("$arg") ;;
        *) echo "usage: $0 [--force] [demo|etcd]..." >&2; exit 2 ;;
    esac
done
((${#targets[@]})) || targets=(demo etcd)

static_busybox() {  # prints the path of a static busybox, installing one if needed
    if [[ -n "${BUSYBOX:-}" ]]; then echo "$BUSYBOX"; return; fi
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        echo "[images] installing busybox-static with apt" >&2
        export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
        apt-cache show busybox-static >/dev/null 2>&1 ||
            apt-get -o DPkg::Lock::Timeout=120 update -qq >&2
        apt-get -o DPkg::Lock::Timeout=120 install -y -qq busybox-static >/dev/null
    fi
    echo /bin/busybox
}

drop_replaced() {  # remove a replaced image if nothing uses it any more (best effort)
    [[ -n "$1" ]] && docker rmi "$1" >/dev/null 2>&1 || true
}

build_demo() {
    local busybox inputs have ctx old
    busybox="$(static_busybox)"
    inputs="$(cat demo/Dockerfile demo/www/index.html "$busybox" build.sh | sha256sum | cut -c1-16)"
    have="$(docker image inspect -f '{{ index .Config.Labels "org.kubelite.inputs" }}' "$DEMO_IMAGE" 2>/dev/null || true)"
    if [[ ${#force[@]} == 0 && "$have" == "$inputs" ]]; then
        echo "[images] $DEMO_IMAGE present"
        return
    fi
    old="$(docker image inspect -f '{{.Id}}' "$DEMO_IMAGE" 2>/dev/null || true)"
    ctx="$(mktemp -d)"
    # Assemble the root filesystem: busybox, one symlink per applet, the page.
    mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/www" "$ctx/rootfs/etc" "$ctx/rootfs/tmp"
    chmod 1777 "$ctx/rootfs/tmp"
    install -m 0755 "$busybox" "$ctx/rootfs/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox ]] || ln -s busybox "$ctx/rootfs/bin/$applet"
    done
    cp demo/www/index.html "$ctx/rootfs/www/index.html"
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ctx/rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
    cp demo/Dockerfile "$ctx/Dockerfile"
    echo "[images] building $DEMO_IMAGE"
    local out
    if ! out="$(docker build -q --label "org.kubelite.inputs=$inputs" -t "$DEMO_IMAGE" "$ctx" 2>&1)"; then
        echo "$out" >&2; rm -rf "$ctx"; return 1
    fi
    rm -rf "$ctx"
    drop_replaced "$old"
    echo "[images] built $DEMO_IMAGE"
}

for target in "${targets[@]}"; do
    case "$target" in
        demo) build_demo ;;
        etcd) bash "$HERE/../etcd/build.sh" "${force[@]}" ;;
    esac
done
