"""kubelite's version (its one source) and the versions ``kl version`` and the gateway's ``/version`` report.

- ``__version__``: the package version, PEP 440. pyproject.toml reads it from
  here (setuptools' ``attr:``, parsed without importing), and everything else
  imports it, so a release changes one line (docs/release.md).
- ``KUBERNETES_VERSION``: the Kubernetes API kubelite serves, as
  (major, minor, gitVersion). kubectl's dispatcher picks its minor version from
  ``/version``; the OpenAPI documents carry it as ``info.version``.
- :func:`build_commit`: the git commit of the code that runs: the checkout's
  HEAD when running from a git checkout, else the commit the wheel was built
  from (``kubelite/_build.json``, written by build_hooks.py at build time),
  else unknown.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

__version__ = "0.1.0"

KUBERNETES_VERSION = ("1", "32", "v1.32.0")
BUILD_INFO = "_build.json"  # in the kubelite package of a built wheel; never in the repository


@dataclass(frozen=True)
class Commit:
    """A git commit: ``sha`` (40 hex digits, "" when unknown); ``dirty``: uncommitted changes to tracked files."""

    sha: str = ""
    dirty: bool = False

    @property
    def tree_state(self) -> str:
        """Kubernetes' ``gitTreeState``: ``clean``, ``dirty``, or "" when the commit is unknown."""
        return "" if not self.sha else "dirty" if self.dirty else "clean"

    def short(self) -> str:
        """``0123456789ab`` or ``0123456789ab-dirty``; "unknown" without a sha."""
        return (self.sha[:12] + ("-dirty" if self.dirty else "")) if self.sha else "unknown"


def checkout_commit(root: Path) -> Commit | None:
    """HEAD of the git checkout at ``root`` (None when ``root`` is not one or git is missing)."""
    if not (root / ".git").exists():  # a directory, or a file in a worktree
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return Commit(sha, bool(status.strip())) if sha else None


@cache
def build_commit() -> Commit:
    """The commit the running code comes from (see the module docstring); ``Commit()`` when unknown."""
    package = resources.files("kubelite")
    if isinstance(package, Path):
        found = checkout_commit(package.parent)
        if found is not None:
            return found
    try:
        info = json.loads(package.joinpath(BUILD_INFO).read_text())
    except (OSError, ValueError):
        return Commit()
    return Commit(str(info.get("commit") or ""), info.get("treeState") == "dirty")
