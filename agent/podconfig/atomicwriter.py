"""The kubelet's atomic writer: a volume's files change all at once, never half-written.

Kubernetes source: ``pkg/volume/util/atomic_writer.go``. Layout of a target directory::

    ..2026_11_30_22_40_01.123456789xyz/   the data, one timestamped directory per version
    ..data -> ..2026_11_30_22_40_01.123456789xyz
    key -> ..data/key                     what users see (one symlink per top-level name)

An update writes a new timestamped directory, points a temporary ``..data_tmp`` symlink at it
and renames that over ``..data`` (rename is atomic), then fixes the user-visible symlinks and
removes the old version. Nothing is written when the payload equals what is there. Readers
holding the old version's files (subPath bind mounts) keep them: they never see updates, as
in Kubernetes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from agent.podconfig.projection import FileContent

from kubelite.util.clock import wall

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"


class PayloadPathError(ValueError):
    """A payload path escapes the volume or uses a reserved name."""


def check_path(path: str) -> None:
    """Kubernetes' validatePath: relative, no ``..`` element, not starting with ``..``."""
    if not path or path.startswith("/") or path.startswith(".."):
        raise PayloadPathError(f"invalid path {path!r}")
    if any(part == ".." for part in path.split("/")):
        raise PayloadPathError(f"invalid path {path!r}: must not contain '..'")


def current(target: Path) -> dict[str, FileContent] | None:
    """The payload ``target`` holds now (None: never written)."""
    data = target / DATA_DIR
    if not data.is_symlink():
        return None
    files = {}
    root = data.resolve()
    for path in root.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(root))] = FileContent(path.read_bytes(), path.stat().st_mode & 0o7777)
    return files


def write(target: Path, payload: Mapping[str, FileContent], *, clock: float | None = None) -> bool:
    """Make ``target`` hold exactly ``payload``; True when something changed."""
    for path in payload:
        check_path(path)
    target.mkdir(parents=True, exist_ok=True)
    if current(target) == dict(payload):
        return False
    data_link = target / DATA_DIR
    old = os.readlink(data_link) if data_link.is_symlink() else None
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(clock if clock is not None else wall()))
    fresh = Path(tempfile.mkdtemp(prefix=f"..{stamp}.", dir=target))
    fresh.chmod(0o755)
    for rel, content in payload.items():
        file = fresh / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content.data)
        file.chmod(content.mode)
    tmp_link = target / _DATA_TMP
    if tmp_link.is_symlink():
        tmp_link.unlink()
    tmp_link.symlink_to(fresh.name)
    os.rename(tmp_link, data_link)  # the atomic step: readers see the old or the new version, whole
    visible = {rel.split("/", 1)[0] for rel in payload}
    for name in visible:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{name}")
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in visible and entry.is_symlink():
            entry.unlink()
    if old is not None and old != fresh.name:
        shutil.rmtree(target / old, ignore_errors=True)
    return True
