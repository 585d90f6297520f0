"""Build the demo image as an OCI archive without Docker, for the oci runtime (issue 18).

The same build context as ``kl images build`` (``context.demo_context``: the static busybox, its
applet links, /www, /etc) becomes one layer of an OCI image made by ``umoci`` (maintained, in
Debian; it computes the layer's diff, digests and the image config), and ``skopeo`` writes the
layout as an ``oci-archive`` whose ref name is ``kubelite/demo:latest`` — what the agent's
``--load-image`` takes. The Dockerfile's settings (``ENV PATH=/bin``, ``WORKDIR /``,
``CMD ["/bin/sh"]``) are applied with ``umoci config``. Blocking; needs umoci and skopeo.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from kubelite.images.busybox import BusyboxMissing, static_busybox
from kubelite.images.context import demo_context

DEMO_IMAGE = "kubelite/demo:latest"


class OciBuildError(Exception):
    """The image could not be built; the message says why."""


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    if result.returncode != 0:
        raise OciBuildError(f"{' '.join(argv[:2])} failed: {result.stderr.strip()[-300:]}")


def build_demo_archive(archive: Path, say: Callable[[str], None]) -> Path:
    """Write ``kubelite/demo:latest`` as an OCI archive at ``archive`` → ``archive``. OciBuildError
    when a tool or the static busybox is missing."""
    for tool in ("umoci", "skopeo"):
        if shutil.which(tool) is None:
            raise OciBuildError(f"building {DEMO_IMAGE} without Docker needs {tool} (apt-get install {tool})")
    try:
        context = demo_context(static_busybox(say))
    except BusyboxMissing as exc:
        raise OciBuildError(str(exc)) from None
    say(f"building {DEMO_IMAGE} as an OCI archive with umoci (no Docker)")
    with tempfile.TemporaryDirectory() as tmp:
        layout, bundle = Path(tmp) / "layout", Path(tmp) / "bundle"
        _run(["umoci", "init", "--layout", str(layout)])
        _run(["umoci", "new", "--image", f"{layout}:demo"])
        _run(["umoci", "unpack", "--image", f"{layout}:demo", str(bundle)])
        rootfs = bundle / "rootfs"
        with tarfile.open(fileobj=io.BytesIO(context.tar())) as tar:  # our own context, not an image's layers
            members = [m for m in tar.getmembers() if m.name.startswith("rootfs/")]
            for member in members:
                member.name = member.name.removeprefix("rootfs/")
            tar.extractall(rootfs, members=members, filter="tar")
        _run(["umoci", "repack", "--image", f"{layout}:demo", str(bundle)])
        _run(["umoci", "config", "--image", f"{layout}:demo", "--config.env", "PATH=/bin", "--config.workingdir", "/",
              "--config.cmd", "/bin/sh"])
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.unlink(missing_ok=True)
        _run(["skopeo", "copy", "--quiet", f"oci:{layout}:demo", f"oci-archive:{archive}:{DEMO_IMAGE}"])
    return archive
