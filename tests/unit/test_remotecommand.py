"""The channel protocol of pods/exec, attach and portforward (kubelite.node.remotecommand): pure facts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from kubelite.node import remotecommand as rc


@given(st.integers(0, 255), st.binary(max_size=512))
def test_frame_round_trip(channel: int, data: bytes) -> None:
    assert rc.unframe(rc.frame(channel, data)) == (channel, data)


def test_channels_and_protocols_are_kubernetes() -> None:
    assert (rc.STDIN, rc.STDOUT, rc.STDERR, rc.ERROR, rc.RESIZE, rc.CLOSE) == (0, 1, 2, 3, 4, 255)
    assert rc.EXEC_PROTOCOLS == ("v5.channel.k8s.io", "v4.channel.k8s.io")
    assert rc.SPDY_TUNNEL == "SPDY/3.1+portforward.k8s.io"
    with pytest.raises(rc.StreamOptionError):
        rc.unframe(b"")


def test_exit_status_is_what_client_go_and_the_python_client_read() -> None:
    assert rc.exit_status(0) == {"metadata": {}, "status": "Success"}
    failed = json.loads(rc.status_bytes(rc.exit_status(3, ["sh", "-c", "exit 3"])))
    assert failed["status"] == "Failure" and failed["reason"] == "NonZeroExitCode"
    # client-go: cause.Type == "ExitCode" (JSON "reason"); python client: int(causes[0]["message"])
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert "exit code 3" in failed["message"]


@pytest.mark.parametrize(("payload", "expected"), [
    (b'{"Width":80,"Height":24}', (80, 24)),
    (b'{"Width":0,"Height":24}', None),
    (b'{"Width":"x"}', None),
    (b"not json", None),
    (b"[1,2]", None),
])
def test_parse_resize(payload: bytes, expected: tuple[int, int] | None) -> None:
    assert rc.parse_resize(payload) == expected


def test_forward_ports() -> None:
    assert rc.forward_ports(["1234,1235", "80"]) == [1234, 1235, 80]
    assert rc.port_prefix(1234) == bytes([0xD2, 0x04])  # little endian, as the Python client decodes it
    for bad in (["0"], ["65536"], ["x"], ["80,80"]):
        with pytest.raises(rc.StreamOptionError):
            rc.forward_ports(bad)


def test_exec_options() -> None:
    query = MultiDict([("command", "sh"), ("command", "-c"), ("command", "echo hi"), ("stdout", "true"),
                       ("stdin", "1"), ("container", "main")])
    options = rc.exec_options(query)
    assert options.command == ("sh", "-c", "echo hi") and options.stdin and options.stdout and not options.stderr
    assert options.container == "main"
    with pytest.raises(rc.StreamOptionError, match="at least 1 of stdin, stdout, stderr"):
        rc.exec_options(MultiDict([("command", "ls")]))
    with pytest.raises(rc.StreamOptionError, match="command"):
        rc.exec_options(MultiDict([("stdout", "true")]))
    assert rc.exec_options(MultiDict([("stdout", "true")]), attach=True).command == ()


def test_text_messages_count_as_bytes() -> None:
    assert rc.message_bytes("\x00echo hi\n") == b"\x00echo hi\n"
    assert rc.message_bytes(b"\x01x") == b"\x01x"
    assert rc.message_bytes(None) is None
