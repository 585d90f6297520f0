"""Files shipped inside the packages (package data, declared in pyproject.toml).

Read through :mod:`importlib.resources`, never through paths relative to the
repository, so an installed wheel finds them exactly as a checkout does.
Every data file the code reads at run time goes through here; the release
check (tests/release/test_wheel.py) proves the wheel carries them.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any


def data(package: str, *parts: str) -> Traversable:
    """The packaged file ``parts`` of ``package`` (``data("kubelite", "examples", "web.yaml")``)."""
    return resources.files(package).joinpath(*parts)


def read_json(package: str, name: str) -> Any:
    """The JSON document packaged as ``name`` in ``package``; OSError/ValueError when absent or broken."""
    return json.loads(data(package, name).read_text(encoding="utf-8"))


def path(package: str, *parts: str) -> Path:
    """A filesystem path of a packaged file, for users and tools that want one (``kl apply -f``).

    kubelite is installed as files (its etcd binaries and child processes need
    that), so a packaged file is always a plain file; FileNotFoundError when absent.
    """
    found = data(package, *parts)
    if not isinstance(found, Path) or not found.is_file():
        raise FileNotFoundError(f"kubelite's packaged file {package}:{'/'.join(parts)} is missing")
    return found
