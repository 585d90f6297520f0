"""bench/procstat.py's memory readers (issue 12, target 7): what ``bench_idle.py`` prints beside the RSS sum.

Two idle Pythons of the same interpreter share libpython's pages: the sum of their RSS counts those pages
twice, their PSS and their distinct resident pages once. Real processes, no mocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from procstat import distinct_resident_bytes, pss_bytes, resident_frames, rss_bytes  # noqa: E402


@pytest.fixture
def two_pythons() -> Iterator[list[int]]:
    code = "import sys, time; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # started: its pages are resident
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_pss_and_distinct_pages_count_shared_pages_once(two_pythons: list[int]) -> None:
    rss = [rss_bytes(pid) for pid in two_pythons]
    pss = [pss_bytes(pid) for pid in two_pythons]
    assert all(r > 1_000_000 for r in rss)
    assert 0 < sum(pss) < sum(rss)  # libpython and the interpreter's binary are shared
    if os.geteuid() != 0:
        assert distinct_resident_bytes(two_pythons) is None  # pagemap hides the frame numbers
        return
    distinct = distinct_resident_bytes(two_pythons)
    assert distinct is not None
    # each process's own pages are all counted, the shared ones once (a little slack: the processes may touch
    # a page between the reads)
    assert max(rss) * 0.9 <= distinct < sum(rss)
    frames = resident_frames(two_pythons[0])
    assert frames is not None and len(frames) * os.sysconf("SC_PAGE_SIZE") >= rss[0] * 0.9


def test_a_vanished_process_reads_as_nothing() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert pss_bytes(proc.pid) == 0 and resident_frames(proc.pid) == set()
