"""A static busybox for the demo image: ``$BUSYBOX``, else the host's, else Debian's
``busybox-static`` installed with apt-get (as root, saying so).

The image is ``FROM scratch``, so the binary must be static: a dynamic one (the
``busybox`` package) would find no loader in the container. Static means an
ELF without a PT_INTERP program header (no dynamic loader asked for).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
DEBIAN_PACKAGE = "busybox-static"
_PT_INTERP = 3


class BusyboxMissing(Exception):
    """No static busybox could be found or installed; the message says what to do."""


def is_static_elf(path: Path) -> bool:
    """Whether ``path`` is an ELF executable that needs no dynamic loader (False for anything else)."""
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
                return False
            wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
            header = f.read(48 if wide else 36)
            if wide:
                phoff, phentsize, phnum = (struct.unpack_from(order + "Q", header, 16)[0],
                                           *struct.unpack_from(order + "HH", header, 38))
            else:
                phoff, phentsize, phnum = (struct.unpack_from(order + "I", header, 12)[0],
                                           *struct.unpack_from(order + "HH", header, 26))
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                (p_type,) = struct.unpack(order + "I", f.read(4))
                if p_type == _PT_INTERP:
                    return False
            return bool(phnum > 0)
    except (OSError, struct.error):
        return False


def find_static_busybox() -> Path | None:
    """``$BUSYBOX`` (which must be static), else the first static busybox of :data:`CANDIDATES`."""
    chosen = os.environ.get("BUSYBOX")
    if chosen:
        if not is_static_elf(Path(chosen)):
            raise BusyboxMissing(f"$BUSYBOX={chosen} is not a static ELF executable (the image is FROM scratch)")
        return Path(chosen)
    return next((p for p in CANDIDATES if is_static_elf(p)), None)


def static_busybox(say: Callable[[str], None], *, install: bool = True) -> Path:
    """A static busybox; installs Debian's busybox-static when none is found, ``install`` is set,
    this is root and apt-get exists. Raises :class:`BusyboxMissing` otherwise."""
    found = find_static_busybox()
    if found is not None:
        return found
    hint = (f"install Debian's {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}) "
            "or point $BUSYBOX at a static busybox")
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BusyboxMissing(f"building the demo image needs a static busybox: {hint}")
    say(f"installing Debian's {DEBIAN_PACKAGE} with apt-get (a static busybox for the demo image)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_SUSPEND": "1"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120"]
    try:
        if subprocess.run(["apt-cache", "show", DEBIAN_PACKAGE], capture_output=True, env=env,
                          timeout=60).returncode != 0:
            subprocess.run([*apt, "update", "-qq"], capture_output=True, env=env, timeout=600, check=True)
        subprocess.run([*apt, "install", "-y", "-qq", DEBIAN_PACKAGE], capture_output=True, env=env,
                       timeout=600, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BusyboxMissing(f"apt-get install {DEBIAN_PACKAGE} failed ({exc}): {hint}") from None
    found = find_static_busybox()
    if found is None:
        raise BusyboxMissing(f"{DEBIAN_PACKAGE} is installed but no static busybox is at "
                             f"{' or '.join(map(str, CANDIDATES))}: {hint}")
    return found
