"""Sampling profiles of a benchmark's processes with py-spy, and their top frames as text.

py-spy (PyPI, in the dev extra) samples a running Python process from outside, so the
process under test runs unmodified; ``--idle`` keeps the samples of threads that wait
(an event loop in ``select``), so the profile shows where time goes *and* how much of it
is waiting. The raw (collapsed-stack) output is one line per distinct stack:
``frame;frame;...;leaf COUNT`` with each frame ``function (file:line)``.

    recorders = [record(pid, out_dir / f"{name}.txt") for name, pid in processes]
    ...  # the measured window
    stop(recorders)
    print(summary(out_dir / "controller-manager.txt"))
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
MAIN_THREAD = "_run_module_as_main ("  # a frame only the main thread's stacks have (``python -m``)
IDLE_LEAF = "select (selectors.py"  # the event loop waiting for I/O or a timer


def record(pid: int, out: Path, *, rate: int = 50) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` (raw format, idle threads included) into ``out`` until :func:`stop`."""
    return subprocess.Popen([str(PY_SPY), "record", "--idle", "--format", "raw", "--rate", str(rate),
                             "--pid", str(pid), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "wb"))


def stop(recorders: list[subprocess.Popen[bytes]]) -> None:
    """SIGINT every recorder (py-spy then writes its file) and wait for it."""
    for proc in recorders:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in recorders:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def dump(pid: int) -> str:
    """One ``py-spy dump`` of every thread's current stack (idle ones included)."""
    return subprocess.run([str(PY_SPY), "dump", "--pid", str(pid)], capture_output=True, text=True,
                          timeout=60).stdout


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    return f"{match['func']} ({match['file']})" if match else frame.strip()


def stacks(path: Path) -> list[tuple[list[str], int]]:
    """The collapsed stacks of a raw py-spy file: (frames root first, samples)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            out.append((head.split(";"), int(count)))
    return out


def summary(path: Path, *, top: int = 12) -> str:
    """The main thread's (the event loop's) samples: the share of idle ones (waiting in
    ``select``), and the top frames by self time (leaf) and by inclusive time (anywhere on the
    stack), functions merged over lines. Other threads (gRPC's poller, executors) mostly wait;
    their samples are only counted."""
    everything = stacks(path)
    collapsed = [(frames, count) for frames, count in everything if any(MAIN_THREAD in f for f in frames)]
    others = sum(count for _, count in everything) - sum(count for _, count in collapsed)
    total = sum(count for _, count in collapsed) or 1
    idle = sum(count for frames, count in collapsed if frames and IDLE_LEAF in frames[-1])
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in collapsed:
        if not frames:
            continue
        leaf[_function(frames[-1])] += count
        for name in {_function(f) for f in frames}:
            inclusive[name] += count
    lines = [f"{path.stem}: main thread {total} samples, {100 * idle / total:.0f}% idle (event loop waiting in "
             f"select); other threads {others} samples",
             "  self (leaf) time:"]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
    lines.append("  inclusive time:")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top + 8)]
    return "\n".join(lines)


if __name__ == "__main__":  # summarise files recorded earlier: python bench/pyspy.py FILE...
    for arg in sys.argv[1:]:
        print(summary(Path(arg), top=25))
