"""Installed into the release check's virtualenv as a ``.pth`` hook: every Python
process of that venv (kl, and the etcd wrapper, gateway, controller-manager and
agents kl up starts) records each file it tries to *read* inside the installed
kubelite/agent/controllers packages that does not exist, one path per line, in
``$KUBELITE_OPEN_AUDIT``. The release check fails when that file is not empty.

An audit hook (PEP 578) sees every open(), os.open() and import read, so a
data file the wheel lacks is caught at its first use, whatever swallows the error.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Any

_LOG = os.environ.get("KUBELITE_OPEN_AUDIT", "")
_SITE = sysconfig.get_paths()["purelib"]
_ROOTS = tuple(os.path.join(_SITE, name) + os.sep for name in ("kubelite", "agent", "controllers"))
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _LOG:
        return
    path, mode, flags = args
    if isinstance(path, int):
        return
    try:
        name = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return
    if not name.startswith(_ROOTS) or f"{os.sep}__pycache__{os.sep}" in name:
        return  # bytecode caches are tried before they exist: not shipped files
    if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS):
        return  # writing (e.g. a __pycache__ file) is not reading a shipped file
    if not os.path.exists(name):
        with open(_LOG, "a") as log:  # outside _ROOTS: does not re-enter this branch
            log.write(f"{name}\t(pid {os.getpid()}: {' '.join(sys.argv)})\n")


sys.addaudithook(_hook)
