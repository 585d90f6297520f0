"""The per-container supervisor (conmon's role): ``python -m agent.runtime.oci.supervisor DIR RUNC ROOT ID MAX_BYTES MAX_FILES``.

Started by the runtime in its own session (``setsid``), so it outlives the agent. It runs
``runc run`` in the foreground (runc passes the pipes straight to the container's process and
forwards signals to it), writes both streams to ``DIR/container.log`` in the CRI log format (rotated at
MAX_BYTES, MAX_FILES files kept, the current one included),
and when the process ends records ``DIR/exit.json`` (``exit_code``: 128+N for signal N, as runc
reports it; ``finished_at``; OOM kills are not told apart yet). ``DIR/started.json``
(``pid`` of this supervisor, ``started_at``) marks the start. Writes of the JSON files are atomic
(temp file + rename), so a reader sees a whole file or none. Imports only the standard library and
``crilog`` (no agent state), to stay small: one of these runs per container.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
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
        self.sink = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write(self, record: bytes) -> None:
        with self.lock:
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
        log.write(format_records(stream, line))


def main(argv: list[str]) -> int:
    directory, runc, root, container_id, max_bytes, max_files = argv
    bundle = Path(directory)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping is `runc kill`'s job; the record must be written
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = RotatingLog(bundle / "container.log", int(max_bytes), int(max_files))
    try:
        process = subprocess.Popen(  # noqa: S603 - argv built by the runtime
            [runc, "--root", root, "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=bundle)
        write_json(bundle / "started.json", {"pid": os.getpid(), "started_at": rfc3339_nano()})
        assert process.stdout is not None and process.stderr is not None
        threads = [threading.Thread(target=pump, args=(process.stdout, "stdout", log)),
                   threading.Thread(target=pump, args=(process.stderr, "stderr", log))]
        for thread in threads:
            thread.start()
        code = process.wait()
        for thread in threads:
            thread.join()
    finally:
        log.close()
    if code < 0:
        code = 128 - code
    write_json(bundle / "exit.json", {"exit_code": code, "finished_at": rfc3339_nano()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
