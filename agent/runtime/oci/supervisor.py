"""The per-container supervisor (conmon's role): ``python -m agent.runtime.oci.supervisor DIR RUNC ROOT ID``.

Started by the runtime in its own session (``setsid``), so it outlives the agent. It runs
``runc run`` in the foreground (runc passes the pipes straight to the container's process and
forwards signals to it), writes both streams to ``DIR/container.log`` in the CRI log format,
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


def pump(source: IO[bytes], stream: str, sink: IO[bytes], lock: threading.Lock) -> None:
    for line in iter(source.readline, b""):
        record = format_records(stream, line)
        with lock:
            sink.write(record)
            sink.flush()


def main(argv: list[str]) -> int:
    directory, runc, root, container_id = argv
    bundle = Path(directory)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping is `runc kill`'s job; the record must be written
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()
    with open(bundle / "container.log", "ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - argv built by the runtime
            [runc, "--root", root, "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=bundle)
        write_json(bundle / "started.json", {"pid": os.getpid(), "started_at": rfc3339_nano()})
        assert process.stdout is not None and process.stderr is not None
        threads = [threading.Thread(target=pump, args=(process.stdout, "stdout", sink, lock)),
                   threading.Thread(target=pump, args=(process.stderr, "stderr", sink, lock))]
        for thread in threads:
            thread.start()
        code = process.wait()
        for thread in threads:
            thread.join()
    if code < 0:
        code = 128 - code
    write_json(bundle / "exit.json", {"exit_code": code, "finished_at": rfc3339_nano()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
