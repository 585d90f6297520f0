"""The per-container supervisor (conmon's role): ``python -m agent.runtime.oci.supervisor DIR RUNC ROOT ID MAX_BYTES MAX_FILES [stdin] [tty]``.

Started by the runtime in its own session (``setsid``), so it outlives the agent. It is a child
subreaper, runs ``runc create`` (which hands its pipes straight to the container's process) and
``runc start``, and reaps the container's process itself, so no ``runc`` process stays per container.
It writes both streams to ``DIR/container.log`` in the CRI log format (rotated at
MAX_BYTES, MAX_FILES files kept, the current one included),
and when the process ends records ``DIR/exit.json`` (``exit_code``: 128+N for signal N;
``finished_at``; ``oom_killed`` from the memory cgroup's OOM kill count, read before ``runc delete``). ``DIR/started.json``
(``pid`` of this supervisor, ``started_at``) marks the start. Writes of the JSON files are atomic
(temp file + rename), so a reader sees a whole file or none. With ``stdin``, the container's stdin is
the FIFO ``DIR/stdin`` (``pods/attach`` writes to it).

With ``tty`` (``Container.tty``) the process gets a terminal, as conmon gives one: ``runc create
--console-socket`` makes the pty inside the container and sends its master here (SCM_RIGHTS over the
unix socket ``DIR/console.sock``); the supervisor holds it for the container's life. What the
terminal shows goes to the log (stream ``stdout``; a chunk that does not end a line is a ``P``
record) and to every client of the attach socket ``DIR/attach.sock`` (bytes both ways: what a client
sends is typed on the terminal); lines ``<width> <height>`` written to the FIFO ``DIR/ctl`` resize
it (conmon's ``ctl`` FIFO). With ``stdin`` too, the ``DIR/stdin`` FIFO is typed on it as well.

Imports only the standard library and ``crilog`` (no agent state), to stay small: one of these
runs per container.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import IO, Any

from agent.runtime.oci.crilog import format_chunk, format_records, rfc3339_nano
from kubelite.util import clock


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

    def write(self, stream: str, line: bytes, *, chunk: bool = False) -> None:
        """One line (or, with ``chunk``, any bytes: a terminal's output, lines cut where they end)."""
        with self.lock:
            # Stamped under the lock and strictly increasing, so file order is time order and a reader
            # can resume after the last timestamp it saw (across rotations).
            now = max(clock.wall_ns(), self.last_ns + 1)
            self.last_ns = now
            record = format_chunk(stream, line, now) if chunk else format_records(stream, line, now)
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


class Terminal:
    """The container's pty master: its output to the log and the attached clients, their input to it."""

    def __init__(self, master: int, log: RotatingLog) -> None:
        self.master, self.log = master, log
        self.clients: set[socket.socket] = set()
        self.lock = threading.Lock()

    def pump(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the last process holding the terminal's other side ended
                data = b""
            if not data:
                break
            self.log.write("stdout", data, chunk=True)
            with self.lock:
                clients = list(self.clients)
            for client in clients:
                try:
                    client.sendall(data)
                except OSError:
                    self.drop(client)
        with self.lock:
            for client in self.clients:  # the process is gone: attached clients see the end
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)

    def type_from(self, source: int) -> None:
        """Copy ``source`` (a FIFO or a client socket) onto the terminal until it ends."""
        while True:
            try:
                data = os.read(source, 65536)
            except OSError:
                return
            if not data:
                return
            with contextlib.suppress(OSError):
                os.write(self.master, data)

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.clients.add(client)
            threading.Thread(target=self._client, args=(client,), daemon=True).start()

    def _client(self, client: socket.socket) -> None:
        self.type_from(client.fileno())
        self.drop(client)

    def drop(self, client: socket.socket) -> None:
        with self.lock:
            self.clients.discard(client)
        with contextlib.suppress(OSError):
            client.close()

    def resizes(self, ctl: int) -> None:
        with os.fdopen(ctl, "rb") as lines:
            for line in lines:
                with contextlib.suppress(ValueError, OSError):
                    width, height = (int(part) for part in line.split()[:2])
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def receive_master(listener: socket.socket, runc: subprocess.Popen[bytes]) -> int | None:
    """The pty master ``runc create`` sends to the console socket; None when runc ended without it."""
    listener.settimeout(0.1)
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if runc.poll() is not None:
                return None
            continue
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 4096, 1)
        return fds[0] if fds else None


def unix_listener(path: Path) -> socket.socket:
    """A listening unix socket at ``path``, bound through its directory's fd (``/proc/self/fd/N/name``):
    bundle paths can pass the 108 bytes a socket address holds."""
    path.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(f"/proc/self/fd/{directory}/{path.name}")
    finally:
        os.close(directory)
    os.chmod(path, 0o600)
    listener.listen(8)
    return listener


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


def start_terminal(bundle: Path, master: int, log: RotatingLog, stdin: int) -> threading.Thread:
    """Serve the terminal (attach socket, ctl FIFO, the stdin FIFO) → the thread pumping its output."""
    terminal = Terminal(master, log)
    ctl = bundle / "ctl"
    if not ctl.exists():
        os.mkfifo(ctl, 0o600)
    helpers: list[tuple[Any, tuple[Any, ...]]] = [(terminal.serve, (unix_listener(bundle / "attach.sock"),)),
                                                  (terminal.resizes, (os.open(ctl, os.O_RDWR),))]
    if stdin != subprocess.DEVNULL:
        helpers.append((terminal.type_from, (stdin,)))
    for target, args in helpers:  # daemons: they end with the process
        threading.Thread(target=target, args=args, daemon=True).start()
    pump_thread = threading.Thread(target=terminal.pump)
    pump_thread.start()
    return pump_thread


def main(argv: list[str]) -> int:
    directory, runc, root, container_id, max_bytes, max_files, *options = argv
    bundle = Path(directory)
    tty = "tty" in options
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
        console = unix_listener(bundle / "console.sock") if tty else None
        # runc runs in the bundle, so the console socket's relative name stays short
        create = subprocess.Popen(  # noqa: S603 - argv built by the runtime
            [runc, "--root", root, *runc_log, "create", "--bundle", str(bundle), "--pid-file", str(bundle / "pid"),
             *(["--console-socket", "console.sock"] if tty else []), container_id],
            stdin=subprocess.DEVNULL if tty else stdin, stdout=out_write, stderr=err_write, cwd=bundle)
        if console is not None:
            master = receive_master(console, create)
            console.close()
            if master is not None:
                threads.append(start_terminal(bundle, master, log, stdin))
        create.wait()
        os.close(out_write)
        os.close(err_write)
        if create.returncode != 0:
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
