"""Clock skew for a component process, with libfaketime (Debian ``libfaketime``).

Why libfaketime and not a hook in kubelite: the agent reads the wall clock in several places
(through ``kubelite.util.clock``: status and heartbeat timestamps, stats) and through its
libraries (gRPC deadlines, the Docker SDK); a machine whose clock is off is off for all of them.
Preloaded into the process, libfaketime shifts ``CLOCK_REALTIME`` for the whole process,
kubelite's code and C libraries alike, by the offset written in a file that it re-reads every
second (``FAKETIME_TIMESTAMP_FILE``, ``FAKETIME_CACHE_DURATION=1``), so a fault can skew and
unskew a running process. The monotonic clock is left alone (``FAKETIME_DONT_FAKE_MONOTONIC=1``)
as on a real host whose wall clock is stepped: asyncio's timers, lease keepalives and probe
periods run on it. Known limit of libfaketime 0.9.10 in that mode: ``time.sleep`` (an absolute
``clock_nanosleep`` on the monotonic clock) fails with EINVAL; kubelite's agent (sim and docker
runtimes) does not call it, asyncio does not either.
"""

from __future__ import annotations

from pathlib import Path

LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime",
                "/usr/local/lib/faketime")
LIBRARY = "libfaketimeMT.so.1"  # the thread-safe build: the agent has threads (to_thread, gRPC)


def faketime_library() -> Path | None:
    for directory in LIBRARY_DIRS:
        path = Path(directory) / LIBRARY
        if path.exists():
            return path
    return None


def clock_skew_problem() -> str | None:
    """Why clock skew cannot be injected on this machine (``None`` when it can)."""
    if faketime_library() is None:
        return "clock skew needs libfaketime (apt-get install libfaketime)"
    return None


def skew_env(offset_file: Path) -> dict[str, str]:
    """Environment that runs a process on a clock shifted by what ``offset_file`` says (``+0`` first)."""
    library = faketime_library()
    if library is None:
        raise RuntimeError(clock_skew_problem())
    set_skew(offset_file, 0.0)
    return {"LD_PRELOAD": str(library), "FAKETIME_TIMESTAMP_FILE": str(offset_file),
            "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def set_skew(offset_file: Path, seconds: float) -> None:
    """Shift the clock of the processes reading ``offset_file`` by ``seconds`` (negative: behind);
    they see it within a second. Written atomically (a half-written file would read as no offset)."""
    tmp = offset_file.with_suffix(".tmp")
    tmp.write_text(f"{seconds:+.3f}s\n")
    tmp.replace(offset_file)
