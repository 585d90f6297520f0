"""The node's image store: one content-addressed OCI image layout plus unpacked root filesystems.

Layout under ``root``:

- ``layout/``: an OCI image layout (``index.json`` + ``blobs/sha256/…``). Blobs are named by their
  digest, so layers shared by two images are stored once. Each image is one ``index.json`` entry
  whose ``org.opencontainers.image.ref.name`` is ``tag_of(name)`` (a digest of the image name:
  OCI ref names cannot hold every character an image reference can);
- ``names.json``: image name → that tag (so ``kubelite/demo:latest`` is found again);
- ``bundles/<manifest digest>/``: the image unpacked once by ``umoci unpack`` (``rootfs/`` and the
  ``config.json`` umoci derives from the image config). Containers never write to it: each gets an
  overlayfs with it as the lower layer.

Tools, not home-made code: ``skopeo copy`` converts ``docker save`` tarballs
(``docker-archive:``) and OCI archives (``oci-archive:``) into the layout, and pulls from a
registry (``docker://``) where one is reachable; ``umoci unpack`` applies the layers (whiteouts,
hard links, ownership and modes per the OCI image spec). All calls block: run them in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import tarfile
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.runtime.base import ImagePullError


@dataclass(frozen=True)
class UnpackedImage:
    bundle: Path  # holds rootfs/ and config.json
    image_id: str  # sha256:<config digest>, what Docker calls the image id
    entrypoint: list[str] | None  # the image config's Entrypoint, to split umoci's process.args


def tag_of(name: str) -> str:
    return "img-" + hashlib.sha256(normalize(name).encode()).hexdigest()[:40]


def normalize(name: str) -> str:
    """``busybox`` → ``busybox:latest``; digests and explicit tags are kept."""
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def archive_names(path: Path) -> list[str]:
    """Image names a ``docker save`` tarball (``manifest.json`` RepoTags) or an OCI archive
    (``index.json`` ref names) carries. Reads those index files only; layers are skopeo's job."""
    try:
        with tarfile.open(path) as archive:
            members = {m.name.lstrip("./"): m for m in archive.getmembers() if m.isfile()}
            if "manifest.json" in members:
                manifest = json.load(archive.extractfile(members["manifest.json"]))  # type: ignore[arg-type]
                return [tag for entry in manifest for tag in entry.get("RepoTags") or []]
            if "index.json" in members:
                index = json.load(archive.extractfile(members["index.json"]))  # type: ignore[arg-type]
                return [m["annotations"]["org.opencontainers.image.ref.name"] for m in index.get("manifests", [])
                        if "org.opencontainers.image.ref.name" in (m.get("annotations") or {})]
    except tarfile.TarError:
        raise ImagePullError(f"{path}: not a docker save or OCI archive (not a tar file)") from None
    except OSError as exc:
        raise ImagePullError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ImagePullError(f"{path}: not a docker save or OCI archive (bad index: {exc})") from None
    raise ImagePullError(f"{path}: neither manifest.json (docker save) nor index.json (OCI archive) in it")


class ImageStore:
    def __init__(self, root: Path, *, skopeo: str = "skopeo", umoci: str = "umoci") -> None:
        self.root = root
        self.layout = root / "layout"
        self.skopeo = skopeo
        self.umoci = umoci
        self._thread_lock = threading.Lock()  # index.json and names.json are rewritten by every load

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Threads of this process and other processes (``python -m agent.runtime.oci.images`` while
        the agent runs): a flock on ``<root>/.lock``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- names -----------------------------------------------------------------

    def _names(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / "names.json").read_text())
        except (OSError, ValueError):
            return {}
        return dict(data) if isinstance(data, dict) else {}

    def _save_names(self, names: dict[str, str]) -> None:
        tmp = self.root / "names.json.tmp"
        tmp.write_text(json.dumps(names, indent=1, sort_keys=True))
        os.replace(tmp, self.root / "names.json")

    def present(self, name: str) -> bool:
        return normalize(name) in self._names()

    def names(self) -> list[str]:
        return sorted(self._names())

    # -- loading -----------------------------------------------------------------

    def load_archive(self, path: Path) -> list[str]:
        """Copy every image of a ``docker save`` tarball or OCI archive into the store → their names.
        Raises ImagePullError naming the file and skopeo's reason."""
        names = archive_names(path)
        if not names:
            raise ImagePullError(f"{path}: the archive names no image (save it with a tag: docker save NAME:TAG)")
        transport = "docker-archive" if _is_docker_archive(path) else "oci-archive"
        for name in names:
            self._copy(f"{transport}:{path}:{name}", name)
        return [normalize(n) for n in names]

    def pull(self, name: str) -> None:
        """Pull from the image's registry (``skopeo copy docker://…``); ImagePullError with its reason."""
        self._copy(f"docker://{normalize(name)}", name)

    def _copy(self, source: str, name: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            result = subprocess.run(  # noqa: S603 - fixed tool, arguments built here
                [self.skopeo, "copy", "--quiet", source, f"oci:{self.layout}:{tag_of(name)}"],
                capture_output=True, text=True, timeout=600, check=False)
            if result.returncode != 0:
                reason = (result.stderr.strip().splitlines() or ["skopeo failed"])[-1]
                raise ImagePullError(f"failed to load image {name!r}: {reason}")
            names = self._names()
            names[normalize(name)] = tag_of(name)
            self._save_names(names)

    # -- unpacking -----------------------------------------------------------------

    def _manifest_of(self, tag: str) -> dict[str, Any]:
        index = json.loads((self.layout / "index.json").read_text())
        for entry in index.get("manifests", []):
            if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return dict(entry)
        raise ImagePullError(f"image {tag} is not in the layout")

    def _blob(self, digest: str) -> dict[str, Any]:
        algorithm, _, hexdigest = digest.partition(":")
        return dict(json.loads((self.layout / "blobs" / algorithm / hexdigest).read_text()))

    def unpacked(self, name: str) -> UnpackedImage:
        """The image's bundle, unpacked on first use. ImagePullError when the image is not here."""
        tag = self._names().get(normalize(name))
        if tag is None:
            raise ImagePullError(f"image {name!r} is not present on this node (load it: kl image load FILE --node N)",
                                 reason="ErrImageNeverPull")
        with self._lock():
            descriptor = self._manifest_of(tag)
            manifest = self._blob(descriptor["digest"])
            config_digest = str(manifest["config"]["digest"])
            config = self._blob(config_digest).get("config") or {}
            bundle = self.root / "bundles" / str(descriptor["digest"]).replace(":", "_")
            if not (bundle / "config.json").exists():
                bundle.parent.mkdir(parents=True, exist_ok=True)
                partial = bundle.with_name(bundle.name + ".partial")
                subprocess.run(["rm", "-rf", str(partial)], check=False)  # noqa: S603,S607 - a failed earlier unpack
                result = subprocess.run(  # noqa: S603
                    [self.umoci, "unpack", "--image", f"{self.layout}:{tag}", str(partial)],
                    capture_output=True, text=True, timeout=600, check=False)
                if result.returncode != 0:
                    raise ImagePullError(f"failed to unpack image {name!r}: {result.stderr.strip()[-300:]}")
                os.replace(partial, bundle)
        return UnpackedImage(bundle=bundle, image_id=config_digest, entrypoint=config.get("Entrypoint"))

    def template(self, image: UnpackedImage) -> dict[str, Any]:
        return dict(json.loads((image.bundle / "config.json").read_text()))


def _is_docker_archive(path: Path) -> bool:
    with tarfile.open(path) as archive:
        return any(m.name.lstrip("./") == "manifest.json" for m in archive.getmembers())


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.runtime.oci.images ARCHIVE... [--oci-root DIR]``: load archives into a node's
    store while its agent runs (it sees them at its next image check)."""
    parser = argparse.ArgumentParser(prog="python -m agent.runtime.oci.images", description=main.__doc__)
    parser.add_argument("archives", nargs="+", type=Path)
    parser.add_argument("--oci-root", type=Path, default=Path("/var/lib/kubelite/oci"))
    args = parser.parse_args(argv)
    store = ImageStore(args.oci_root / "images")
    for archive in args.archives:
        try:
            print("loaded", ", ".join(store.load_archive(archive)))
        except ImagePullError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
