"""``kubelite/incluster-python:test``: an image holding this machine's Python and the official
Kubernetes client, built offline (no registry) for the in-cluster client test.

``FROM scratch`` with the files the interpreter needs at their own paths: the interpreter,
``libpython`` and the standard library (tests, IDLE, tkinter and the like left out), the shared
libraries the interpreter and its extension modules link (``ldd``), and the ``kubernetes``
distribution with its dependency closure (``importlib.metadata``) from this venv's site-packages
in ``/app/site-packages``. The image carries a digest of its inputs (paths, sizes, modification
times) in a label: a build is done only when they changed (cached across test runs and setups), and the
image it replaces is removed (kubelite.images.build.drop_replaced), so a changed venv or another worktree
leaves no dangling copy behind. ``python -m tests.incluster.image``
builds it (scripts/setup.sh need not: the test fixture does when it is missing).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path
from typing import Any

from kubelite.images.build import INPUTS_LABEL, drop_replaced

IMAGE = "kubelite/incluster-python:test"
LABEL = INPUTS_LABEL  # kubelite's own images' label for the same digest
SITE = "/app/site-packages"
_SKIP_STDLIB = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__"}
DOCKERFILE = f"""FROM scratch
COPY rootfs/ /
ENV PYTHONPATH={SITE} PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["{Path(sys.executable).resolve()}"]
"""


def _distributions(root: str = "kubernetes") -> list[metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency for another Python version (markers)
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return [found[k] for k in sorted(found)]


def _shared_libraries(binaries: list[Path]) -> set[Path]:
    libraries: set[Path] = set()
    out = subprocess.run(["ldd", *map(str, binaries)], capture_output=True, text=True,  # noqa: S603,S607
                         check=False).stdout  # one call for all: ldd is slow to start
    for line in out.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            libraries.add(Path(match.group(1)))
    return libraries


def files() -> dict[str, Path]:
    """Path in the image → file on this machine."""
    python = Path(sys.executable).resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    chosen: dict[str, Path] = {str(python): python}
    for path in stdlib.rglob("*"):
        parts = set(path.relative_to(stdlib).parts)
        if path.is_file() and not parts & _SKIP_STDLIB and not path.relative_to(stdlib).parts[0].startswith("config-"):
            chosen[str(path)] = path
    binaries = [python, *stdlib.joinpath("lib-dynload").glob("*.so")]
    for dist in _distributions():
        for record in dist.files or []:
            source = Path(str(dist.locate_file(record))).resolve()
            if source.is_file() and ".." not in record.parts:
                chosen[f"{SITE}/{record}"] = source
                if source.suffix == ".so":
                    binaries.append(source)
    for library in _shared_libraries(binaries):
        chosen[str(library)] = library.resolve()
    return chosen


def fingerprint(chosen: dict[str, Path]) -> str:
    """The inputs' digest: each file's place, size and modification time, and the Dockerfile (cheap:
    the files are read only when a build is needed)."""
    digest = hashlib.sha256(DOCKERFILE.encode())
    for target, source in sorted(chosen.items()):
        stat = source.stat()
        digest.update(f"{target}\0{source}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def context(chosen: dict[str, Path]) -> bytes:
    """The build context (a tar, deterministic: sorted, no times or owners)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
        add("Dockerfile", DOCKERFILE.encode(), 0o644)
        for target, source in sorted(chosen.items()):
            add("rootfs" + target, source.read_bytes(), source.stat().st_mode & 0o755 | 0o444)
    return buffer.getvalue()


def ensure(client: Any | None = None) -> str:
    """Build :data:`IMAGE` unless it is there with the same inputs; returns its tag."""
    import docker

    if client is None:
        own = docker.from_env(timeout=300)
        try:
            return ensure(own)
        finally:
            own.close()
    chosen = files()
    digest = fingerprint(chosen)
    try:
        have: dict[str, Any] | None = client.api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        have = None
    if (((have or {}).get("Config") or {}).get("Labels") or {}).get(LABEL) == digest:
        return IMAGE
    for chunk in client.api.build(fileobj=io.BytesIO(context(chosen)), custom_context=True, tag=IMAGE, rm=True, forcerm=True,
                                  labels={LABEL: digest}, decode=True):
        if "error" in chunk:
            raise RuntimeError(f"building {IMAGE} failed: {chunk['error']}")
    drop_replaced(client, IMAGE, have)  # the image this build replaced would stay as a 228 MB <none> image
    return IMAGE


if __name__ == "__main__":
    print(ensure())
