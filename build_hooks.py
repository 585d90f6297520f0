"""setuptools commands (pyproject.toml ``[tool.setuptools.cmdclass]``) that record, in a
built sdist or wheel, the git commit it was built from: ``kubelite/_build.json``
(``{"commit": sha, "treeState": "clean"|"dirty"}``), read by ``kubelite.version``
so ``kl version`` and the gateway's ``/version`` name the commit outside a checkout.

The sdist gets the file from the checkout's git; a wheel built from that sdist
(``python -m build``) finds it there as package data; a wheel built straight
from a checkout (``pip wheel .``) gets it from git. Without git nothing is written.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

ROOT = Path(__file__).resolve().parent


def _build_info() -> str | None:
    """The JSON to record, or None outside a git checkout (kubelite.version's rule, loaded by path:
    the package itself need not be importable while it is being built)."""
    spec = importlib.util.spec_from_file_location("_kubelite_version", ROOT / "kubelite" / "version.py")
    assert spec is not None and spec.loader is not None
    version = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = version  # dataclasses look their module up there
    spec.loader.exec_module(version)
    commit = version.checkout_commit(ROOT)
    if commit is None:
        return None
    return json.dumps({"commit": commit.sha, "treeState": commit.tree_state}) + "\n"


class build_py(_build_py):
    def run(self) -> None:
        super().run()
        info = _build_info()
        if info is not None and not self.editable_mode:
            target = Path(self.build_lib) / "kubelite" / "_build.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(info)


class sdist(_sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        info = _build_info()
        if info is not None:
            target = Path(base_dir) / "kubelite" / "_build.json"
            target.unlink(missing_ok=True)  # never write through a hard link into the checkout
            target.write_text(info)
