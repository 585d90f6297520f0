"""The type checker and the layer contracts, as part of the suite: a violation fails CI.

mypy runs strict on kubelite/, controllers/ and agent/ (``[tool.mypy]`` in pyproject.toml);
import-linter checks the layers of docs/architecture.md (``[tool.importlinter]``).
"""

from __future__ import annotations

import re
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


# "now" has one home (STYLE.md habit 12): kubelite/util/clock.py. Time read or formatted anywhere else
# escapes FakeClock and drifts in shape; these are the ways it has crept back in.
_CLOCK_HOME = "kubelite/util/clock.py"
_CLOCK_BYPASSES = {
    "time.time/monotonic": re.compile(r"\btime\.(time|time_ns|monotonic|monotonic_ns)\b"),
    "from time import": re.compile(r"^\s*from time import .*\b(time|time_ns|monotonic|monotonic_ns)\b"),
    "datetime.now/utcnow": re.compile(r"\bdatetime\.(now|utcnow)\("),
    "loop.time()": re.compile(r"\bloop\.time\(\)"),
    "RFC 3339 format": re.compile(r"%Y-%m-%dT%H:%M"),
    "isoformat + Z": re.compile(r"isoformat\([^)]*\)[^#\n]*[\"']Z[\"']"),
}
_CLOCK_ALLOWED = {
    # asyncio's own timing: a TimerHandle's when() is on the loop's clock, so it is compared with loop.time().
    ("kubelite/client/workqueue.py", "loop.time()"),
}


def test_time_is_read_and_formatted_only_through_the_clock() -> None:
    found = []
    for top in ("kubelite", "controllers", "agent"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == _CLOCK_HOME:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for name, pattern in _CLOCK_BYPASSES.items():
                    if pattern.search(line) and (rel, name) not in _CLOCK_ALLOWED:
                        found.append(f"{rel}:{number}: {name}: {line.strip()}")
    assert found == [], "read and format time through kubelite/util/clock.py:\n" + "\n".join(found)
