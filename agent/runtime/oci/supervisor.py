"""The per-container supervisor (conmon's role): ``python -m agent.runtime.oci.supervisor DIR RUNC ROOT ID MAX_BYTES MAX_FILES [stdin]``.

Started by the runtime in its own session (``setsid``), so it outlives the agent. It is a child
subreaper, runs ``runc create`` (which hands its pipes straight to the container's process) and
``runc start``, and reaps the container's process itself, so no ``runc`` process stays per container.
It writes both streams to ``DIR/container.log`` in the CRI log format (rotated at
MAX_BYTES, MAX_FILES files kept, the current one included),
and when the process ends records ``DIR/exit.json`` (``exit_code``: 128+N for signal N;
``finished_at``; ``oom_killed`` from the memory cgroup's OOM kill count, read before ``runc delete``). ``DIR/started.json``
(``pid`` of this supervisor, ``started_at``) marks the start. Writes of the JSON files are atomic
(temp file + rename), so a reader sees a whole file or none. With ``stdin``, the container's stdin is
the FIFO ``DIR/stdin`` (``pods/attach`` writes to it). Imports only the standard library and
``crilog`` (no agent state), to stay small: one of these runs per container.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from agent.runtime.oci.crilog import format_records, rfc3339_nano


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class RotatingLog:
    """``container.log`` capped at ``max_bytes``: when a record would pass it, the file becomes
    ``container.log.1`` (older ones shift up to ``.{max_files - 1}``, the oldest is dropped) and a new
    one starts, as the kubelet's container log manager rotates CRI logs."""

    def __init__(self, path: Path, max_bytes: int, max_files: int) -> None:
        self.path, self.max_bytes, self.max_files = path, max_bytes, max_files
        self.lock = threading.Lock()
        self.last_ns = 0
        self.sink = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write(self, stream: str, line: bytes) -> None:
        with self.lock:
            # Stamped under the lock and strictly increasing, so file order is time order and a reader
            # can resume after the last timestamp it saw (across rotations).
            now = max(time.time_ns(), self.last_ns + 1)
            self.last_ns = now
            record = format_records(stream, line, now)
            if self.sink.tell() and self.sink.tell() + len(record) > self.max_bytes:
                self._rotate()
            self.sink.write(record)
            self.sink.flush()

    def _rotate(self) -> None:
        self.sink.close()
        for index in range(self.max_files - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if index == self.max_files - 1:
                older.unlink(missing_ok=True)
            newer = self.path if index == 1 else self.path.with_name(f"{self.path.name}.{index - 1}")
            if newer.exists():
                os.replace(newer, older)
        if self.max_files <= 1:
            self.path.unlink(missing_ok=True)
        self.sink = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        self.sink.close()


def pump(source: IO[bytes], stream: str, log: RotatingLog) -> None:
    for line in iter(source.readline, b""):
        log.write(stream, line)


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of our descendants (the container's init, once ``runc create`` exits) become our
    children, so ``waitpid`` gives its exit status (conmon does the same)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def oom_kills(cgroup: str) -> int:
    """OOM kills in the container's memory cgroup: v1 ``memory.oom_control``, v2 ``memory.events``."""
    for path in (f"/sys/fs/cgroup/memory{cgroup}/memory.oom_control", f"/sys/fs/cgroup{cgroup}/memory.events"):
        try:
            for line in Path(path).read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def runc_error(path: Path) -> str:
    """The last error runc logged (``--log-format json``: one object per line, ``msg``)."""
    message = "unknown error"
    try:
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", message))
    except OSError:
        pass
    return message[-500:]


def wait_for(pid: int) -> int:
    """Reap children until ``pid`` ends → its exit code (128+N for signal N)."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255  # not our child after all: nothing to learn
        if reaped == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    directory, runc, root, container_id, max_bytes, max_files, *options = argv
    bundle = Path(directory)
    stdin: int = subprocess.DEVNULL
    if "stdin" in options:  # Container.stdin: a FIFO attach writes to; held open here so it never sees EOF
        fifo = bundle / "stdin"
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        stdin = os.open(fifo, os.O_RDWR)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping is `runc kill`'s job; the record must be written
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    become_subreaper()
    cgroup = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
    log = RotatingLog(bundle / "container.log", int(max_bytes), int(max_files))
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    threads = [threading.Thread(target=pump, args=(os.fdopen(out_read, "rb"), "stdout", log)),
               threading.Thread(target=pump, args=(os.fdopen(err_read, "rb"), "stderr", log))]
    for thread in threads:
        thread.start()
    result: dict[str, Any] = {}
    try:
        # `runc create` hands our pipes to the container's process (pass-through stdio) and exits; the
        # process waits for `runc start`. runc's own errors go to the same stderr, into the log.
        runc_log = ["--log", str(bundle / "runc.log"), "--log-format", "json"]
        created = subprocess.run(  # noqa: S603 - argv built by the runtime
            [runc, "--root", root, *runc_log, "create", "--bundle", str(bundle), "--pid-file", str(bundle / "pid"),
             container_id], stdin=stdin, stdout=out_write, stderr=err_write, cwd=bundle, check=False)
        os.close(out_write)
        os.close(err_write)
        if created.returncode != 0:
            result = {"exit_code": 128, "error": f"runc create failed: {runc_error(bundle / 'runc.log')}"}
        else:
            pid = int((bundle / "pid").read_text())
            started = subprocess.run([runc, "--root", root, *runc_log, "start", container_id],  # noqa: S603
                                     capture_output=True, text=True, check=False)
            write_json(bundle / "started.json", {"pid": os.getpid(), "started_at": rfc3339_nano()})
            if started.returncode != 0:
                result = {"error": f"runc start failed: {runc_error(bundle / 'runc.log')}"}
                subprocess.run([runc, "--root", root, "kill", container_id, "KILL"],  # noqa: S603
                               capture_output=True, check=False)
            code = wait_for(pid)
            result = {"exit_code": code, **result, "oom_killed": oom_kills(cgroup) > 0}
            # The cgroup outlives the process until `runc delete`: the OOM count was read first.
            subprocess.run([runc, "--root", root, "delete", "--force", container_id],  # noqa: S603
                           capture_output=True, check=False)
        for thread in threads:
            thread.join()
    finally:
        log.close()
    if not (bundle / "started.json").exists():  # create failed: the record still says it ended
        write_json(bundle / "started.json", {"pid": os.getpid(), "started_at": rfc3339_nano()})
    write_json(bundle / "exit.json", {**result, "finished_at": rfc3339_nano()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
