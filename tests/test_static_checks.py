"""The type checker and the layer contracts, as part of the suite: a violation fails CI.

mypy runs strict on kubelite/, controllers/ and agent/ (``[tool.mypy]`` in pyproject.toml);
import-linter checks the layers of docs/architecture.md (``[tool.importlinter]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_mypy_strict_is_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_import_layers_hold() -> None:
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_kubelite_modules_live_in_their_layer_folders() -> None:
    """A newcomer finds a module's home from the folder names: no flat modules in kubelite/ but these."""
    flat = sorted(p.name for p in (REPO / "kubelite").glob("*.py") if p.name not in {"__init__.py", "version.py"})
    assert flat == [], f"put these in the folder of their layer (docs/architecture.md): {flat}"
