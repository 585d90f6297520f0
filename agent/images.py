"""Images brought to a node by hand: an uploaded archive (``POST /images/load`` on the agent API, which
``kl images load FILE --node N`` reaches through the gateway's ``nodes/{name}/proxy``) and a directory the
agent watches (``--image-dir``).

Both hand a ``docker save`` tarball or an OCI archive to the runtime's ``load_image`` (the oci runtime's
image store: skopeo; docker: ``docker load``). A corrupt or unnamed archive is a clear
``ImagePullError`` (the upload answers 400 with it; the watcher moves the file to ``failed/`` with the
reason in ``failed/<file>.error`` and logs it). The watcher looks at the directory every
``period`` seconds (a directory listing: files are dropped by hand, no etcd or engine event announces
them) and loads each new file once its size stopped changing between two looks; loaded files move
to ``loaded/``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from kubelite.util.supervise import BackgroundTask

from agent.runtime.base import ContainerRuntime, ContainerRuntimeError

log = logging.getLogger(__name__)


async def load_upload(runtime: ContainerRuntime, chunks: AsyncIterator[bytes], *, name: str = "archive.tar",
                      spool: Path | None = None) -> list[str]:
    """Write the uploaded archive to a temporary directory (under ``spool``) as ``name``'s base name and
    load it → image names. ContainerRuntimeError (ImagePullError for a bad archive) says why not, naming
    the archive by ``name``, not by where it was spooled."""
    base = Path(name).name if Path(name).name not in ("", ".", "..") else "archive.tar"
    with tempfile.TemporaryDirectory(prefix="kubelite-image-", dir=spool) as directory:
        path = Path(directory) / base
        with open(path, "wb") as sink:
            async for chunk in chunks:
                await asyncio.to_thread(sink.write, chunk)
        try:
            return await runtime.load_image(path)
        except ContainerRuntimeError as exc:
            exc.args = (str(exc).replace(str(path), base),)
            raise


class ImageDirWatcher:
    """``start()`` / ``stop()``; loads archives dropped into ``directory`` (see the module's docstring)."""

    def __init__(self, runtime: ContainerRuntime, directory: Path, *, period: float = 2.0) -> None:
        self.runtime, self.directory, self.period = runtime, directory, period
        self._sizes: dict[str, int] = {}
        self._task = BackgroundTask()

    async def start(self) -> None:
        for sub in ("loaded", "failed"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._task.start(f"image-dir {self.directory}", self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await self.scan()
            await asyncio.sleep(self.period)

    async def scan(self) -> list[str]:
        """One look at the directory; loads the files whose size held still since the last look → names."""
        loaded: list[str] = []
        sizes: dict[str, int] = {}
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            sizes[entry.name] = entry.stat().st_size
            if self._sizes.get(entry.name) != sizes[entry.name]:
                continue  # new, or still being written: next look
            loaded += await self._load(Path(entry.path))
            sizes.pop(entry.name)
        self._sizes = sizes
        return loaded

    async def _load(self, path: Path) -> list[str]:
        try:
            names = await self.runtime.load_image(path)
        except ContainerRuntimeError as exc:
            log.warning("image archive %s not loaded: %s", path, exc)
            (self.directory / "failed" / f"{path.name}.error").write_text(f"{exc}\n")
            os.replace(path, self.directory / "failed" / path.name)
            return []
        log.info("image archive %s loaded: %s", path, ", ".join(names))
        os.replace(path, self.directory / "loaded" / path.name)
        return names
