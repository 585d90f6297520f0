"""What the benchmarks share: a process's CPU seconds, memory and descendants from /proc, the
raw etcd put rate most of them print as their baseline, and starting and stopping the
controller manager and the other processes a benchmark runs.

A dead or vanished process reads as 0 (a benchmark samples processes that may exit).
"""

from __future__ import annotations

import asyncio
import os
from array import array
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    """A memory line of /proc/<pid>/status (``VmRSS``, ``VmHWM`` = peak RSS), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS), in bytes."""
    return memory_kib(pid, "VmRSS") * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (``Pss`` of /proc/<pid>/smaps_rollup), in bytes: each resident page
    divided by the number of processes that map it, so a group's sum counts shared libraries once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = 1 << 63
_PFN_MASK = (1 << 55) - 1  # bits 0-54 of a pagemap entry (the kernel's Documentation/admin-guide/mm/pagemap.rst)


def resident_frames(pid: int) -> set[int] | None:
    """The physical page frame numbers of ``pid``'s resident pages, from /proc/<pid>/pagemap (empty when the
    process is gone); None when the kernel hides them (PFNs read as 0 without CAP_SYS_ADMIN)."""
    frames: set[int] = set()
    hidden = True
    try:
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
        with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                if line.endswith("[vsyscall]"):  # outside the process's page tables
                    continue
                start, end = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
                pagemap.seek(start // PAGE_SIZE * 8)
                entries = array("Q")
                entries.frombytes(pagemap.read((end - start) // PAGE_SIZE * 8))
                for entry in entries:
                    if entry & _PRESENT:
                        pfn = entry & _PFN_MASK
                        frames.add(pfn)
                        hidden = hidden and pfn == 0
    except PermissionError:
        return None
    except OSError:  # gone (or going) while read
        return set()
    return None if hidden and frames else frames


def distinct_resident_bytes(pids: list[int]) -> int | None:
    """What a group of processes occupies in RAM: its distinct resident physical pages, in bytes (a page
    mapped by several of them, or twice by one, counts once); None when pagemap hides PFNs (not root)."""
    union: set[int] = set()
    for pid in pids:
        frames = resident_frames(pid)
        if frames is None:
            return None
        union |= frames
    return len(union) * PAGE_SIZE


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


async def put_rate(client: Any, count: int, concurrency: int) -> float:
    """Raw etcd puts/s of 512-byte values through ``client`` (aetcd), one at a time or
    ``concurrency`` at once; the keys are deleted afterwards."""
    value = b"x" * 512
    started = time.perf_counter()
    if concurrency == 1:
        for i in range(count):
            await client.put(f"/bench/seq/{i}".encode(), value)
    else:
        async def worker(w: int) -> None:
            for i in range(w, count, concurrency):
                await client.put(f"/bench/par/{i}".encode(), value)
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.delete_prefix(b"/bench/")
    return count / elapsed


async def wait_until(predicate: Any, timeout: float, what: str, *, interval: float = 0.05) -> None:
    """Poll the async ``predicate`` every ``interval`` s; exit the benchmark naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def start_controller_manager(store: Any, etcd_endpoint: str, *, cwd: Path, env: dict[str, str], log: Path,
                                   extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m controllers`` on ``etcd_endpoint`` (output to ``log``), returned once it leads."""
    from kubelite.api.resources import LEASES  # noqa: PLC0415 - the script puts the repository on sys.path
    from kubelite.etcd.server import free_port  # noqa: PLC0415

    manager = subprocess.Popen(
        [sys.executable, "-m", "controllers", "--etcd-endpoints", etcd_endpoint, "--id", "bench",
         "--listen", f"127.0.0.1:{free_port()}", "--log-level", "WARNING", *(extra or [])],
        cwd=cwd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)

    async def leading() -> bool:
        try:
            return (await store.get(LEASES, "kubelite-controller-manager", "kube-system")) is not None
        except Exception:  # noqa: BLE001 - not yet elected, or etcd busy: ask again
            return False

    await wait_until(leading, 60, "the controller manager to lead", interval=0.2)
    return manager


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, newest first; SIGKILL what has not exited 15 s later."""
    for proc in reversed(procs):
        proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
