"""The streaming protocols of ``pods/exec``, ``pods/attach`` and ``pods/portforward`` (pure: no I/O).

Facts from Kubernetes (``k8s.io/apimachinery/pkg/util/remotecommand``, ``.../util/portforward``
and the kubelet's websocket port-forward), so the real kubectl and the official Python client work:

- **exec/attach over WebSocket** (subprotocols ``v5.channel.k8s.io``, ``v4.channel.k8s.io``): every
  binary message is one channel byte and its payload. Channels: 0 stdin, 1 stdout, 2 stderr, 3 error
  (one ``metav1.Status`` JSON when the command ends: ``Success``, or ``Failure`` with reason
  ``NonZeroExitCode`` and a cause of type ``ExitCode`` whose message is the code), 4 resize
  (``{"Width": w, "Height": h}``). v5 adds 255 "close": payload = the channel the client closes
  (stdin: the process sees end of file).
- **port-forward over WebSocket** (``v4.channel.k8s.io``, what the Python client speaks): the
  ``ports`` query lists the ports; port *i* gets data channel ``2i`` and error channel ``2i+1``;
  the server's first message on each is the port number (2 bytes, little endian).
- **port-forward, kubectl ≥ 1.31**: SPDY/3.1 tunnelled through a WebSocket (subprotocol
  ``SPDY/3.1+portforward.k8s.io``): see ``agent/streaming/spdy.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5 only

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4)  # the server's preference order
PORTFORWARD_CHANNELS = V4  # the kubelet's websocket port-forward protocol
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # kubectl's port-forward (client-go tunneling dialer)
PORTFORWARD_PROTOCOLS = (SPDY_TUNNEL, PORTFORWARD_CHANNELS)
CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")

_TRUE = ("1", "true", "yes")


class StreamOptionError(ValueError):
    """The request's options are invalid (the message says which; a 400 for the client)."""


@dataclass(frozen=True)
class ExecOptions:
    """``PodExecOptions``/``PodAttachOptions`` from a request's query (``command`` repeats)."""

    container: str | None
    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def exec_options(query: Any, *, attach: bool = False) -> ExecOptions:
    """Parse the query (a multidict: ``getall``/``get``); raises StreamOptionError like kube-apiserver's
    validation ("you must specify at least 1 of stdin, stdout, stderr"; exec needs a command)."""

    def flag(name: str) -> bool:
        return str(query.get(name, "")).lower() in _TRUE

    command = tuple(query.getall("command", ())) if hasattr(query, "getall") else tuple(query.get("command", ()))
    options = ExecOptions(container=query.get("container") or None, command=command, stdin=flag("stdin"),
                          stdout=flag("stdout"), stderr=flag("stderr"), tty=flag("tty"))
    if not (options.stdin or options.stdout or options.stderr):
        raise StreamOptionError("you must specify at least 1 of stdin, stdout, stderr")
    if not attach and not options.command:
        raise StreamOptionError("you must specify a command (the `command` parameter)")
    return options


def frame(channel: int, data: bytes = b"") -> bytes:
    """One WebSocket binary message of the channel protocol."""
    return bytes((channel,)) + data


def message_bytes(data: object) -> bytes | None:
    """A received WebSocket message's bytes, text included (the Python client sends ``str`` stdin as
    text messages; the kubelet reads both kinds alike); None for a control message."""
    if isinstance(data, str):
        return data.encode()
    return bytes(data) if isinstance(data, (bytes, bytearray)) else None


def unframe(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of a binary message; StreamOptionError for an empty one."""
    if not message:
        raise StreamOptionError("empty channel message")
    return message[0], message[1:]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: Iterable[str] = ()) -> dict[str, Any]:
    """The error channel's last message for a command that ended with ``code`` (kubelet's wording)."""
    if code == 0:
        return success_status()
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {list(command)}, "
                   f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure_status(message: str, *, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    """An error channel Status for a stream that could not run (kubectl prints its message)."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def status_bytes(status: dict[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of a resize message, None when it is malformed (ignored, as the kubelet logs it)."""
    try:
        doc = json.loads(payload)
        width, height = int(doc.get("Width", 0)), int(doc.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if not (0 < width < 65536 and 0 < height < 65536):
        return None
    return width, height


def forward_ports(values: Iterable[str]) -> list[int]:
    """The ``ports`` query values (each may list several, comma-separated) → ports, in order, unique."""
    ports: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                port = int(part)
            except ValueError:
                raise StreamOptionError(f"invalid port {part!r}: not a number") from None
            if not 0 < port < 65536:
                raise StreamOptionError(f"invalid port {port}: must be between 1 and 65535")
            if port in ports:
                raise StreamOptionError(f"port {port} is listed twice")
            ports.append(port)
    return ports


def port_prefix(port: int) -> bytes:
    """The first payload on each of a port's channels (websocket port-forward): the port, little endian."""
    return port.to_bytes(2, "little")
