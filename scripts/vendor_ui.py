#!/usr/bin/env python3
"""Re-vendor (or check) the dashboard's browser libraries from the npm registry.

The dashboard ships plain ES modules with its libraries committed under
kubelite/ui/static/vendor/ (no build step for users; see docs/ui.md). This
script is the only way they change: it reads vendor-lock.json (exact versions,
the registry's sha512 integrity of each tarball, and which files are copied
where), fetches each tarball with ``npm pack``, refuses one whose integrity
differs or whose package.json declares another license than the lock (each
package's LICENSE must be among the copied files), and copies the listed files. ``--check`` only verifies that the
committed files are byte-identical to the locked tarballs.

Usage: python3 scripts/vendor_ui.py [--check]
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "kubelite" / "ui" / "static" / "vendor"
LOCK = VENDOR / "vendor-lock.json"


def fetch(spec: str, workdir: Path) -> tuple[Path, str]:
    out = subprocess.run(["npm", "pack", "--json", spec], cwd=workdir, check=True, capture_output=True, text=True)
    info = json.loads(out.stdout)[0]
    return workdir / info["filename"], info["integrity"]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    lock = json.loads(LOCK.read_text())
    problems = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in lock["packages"]:
            spec = f"{pkg['name']}@{pkg['version']}"
            tarball, integrity = fetch(spec, Path(tmp))
            if integrity != pkg["integrity"]:
                print(f"{spec}: registry integrity {integrity} differs from the lock's {pkg['integrity']}")
                return 1
            with tarfile.open(tarball) as tar:
                meta = tar.extractfile("package/package.json")
                declared = json.loads(meta.read()).get("license") if meta else None
                if declared != pkg["license"]:
                    print(f"{spec}: package.json says license {declared!r}, the lock {pkg['license']!r}")
                    return 1
                if "LICENSE" not in pkg["files"]:
                    print(f"{spec}: the lock copies no LICENSE")
                    return 1
                for source, dest in pkg["files"].items():
                    member = tar.extractfile(f"package/{source}")
                    assert member is not None, f"{spec} has no {source}"
                    data = member.read()
                    target = VENDOR / dest
                    if check:
                        if not target.exists() or target.read_bytes() != data:
                            print(f"{target} differs from {spec}:{source}")
                            problems += 1
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(data)
            print(f"{spec} ok (sha256 of files: "
                  + ", ".join(hashlib.sha256((VENDOR / d).read_bytes()).hexdigest()[:12] for d in pkg["files"].values())
                  + ")")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
