"""kubelite.util.peeruid: the uid owning a loopback connection's client socket, from the kernel's
socket tables — real sockets for this process's own uid, and a table file for another uid."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kubelite.util.listen import is_loopback
from kubelite.util.peeruid import owner_uid


@pytest.mark.parametrize(("family", "server_host", "client_host"), [
    (socket.AF_INET, "127.0.0.1", "127.0.0.1"),
    (socket.AF_INET6, "::1", "::1"),
    (socket.AF_INET6, "::", "127.0.0.1"),  # dual-stack listener: the peer shows as ::ffff:127.0.0.1
])
def test_a_loopback_connection_is_owned_by_this_process_s_uid(family: int, server_host: str,
                                                                client_host: str) -> None:
    with socket.socket(family) as listener:
        listener.bind((server_host, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection((client_host, port)):
            accepted, _ = listener.accept()
            with accepted:
                assert owner_uid(accepted.getpeername(), accepted.getsockname()) == os.getuid()
                # the tuple must match both ends: no socket connects from our own address to the client's
                assert owner_uid(accepted.getsockname(), accepted.getsockname()) is None


def test_the_uid_column_of_the_row_for_exactly_this_connection_is_returned(tmp_path: Path) -> None:
    # /proc/net/tcp rows as the kernel prints them (x86: address words in host byte order)
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
        "   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2 1\n"
        "   2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
        "   3: 0100007F:9C41 0100007F:1F91 01 00000000:00000000 00:00000000 00000000  2000        0 4 1\n")
    # client 127.0.0.1:40000 (0x9C40) → us at 127.0.0.1:8080 (0x1F90): the client's row is uid 1000
    assert owner_uid(("127.0.0.1", 40000), ("127.0.0.1", 8080), tables=(table,)) == 1000
    assert owner_uid(("127.0.0.1", 40001), ("127.0.0.1", 8080), tables=(table,)) is None  # another server
    assert owner_uid(("127.0.0.1", 40000), ("127.0.0.1", 8081), tables=(table,)) is None
    assert owner_uid(("::ffff:127.0.0.1", 40001, 0, 0), ("127.0.0.1", 8081), tables=(table,)) == 2000
    assert owner_uid(("127.0.0.1", 40000), ("127.0.0.1", 8080), tables=(tmp_path / "missing",)) is None


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False), ("::", False), ("example.com", False),
    ("", False), ("fe80::1%eth0", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_connection_its_client_closed_names_nobody(tmp_path: Path) -> None:
    """An orphaned client socket (closed by its process, FIN_WAIT2 or TIME_WAIT) is listed with uid 0 and
    inode 0 whoever owned it: it must not read as root, or anyone could send a request, close, and be root."""
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   1: 0100007F:9C40 0100007F:1F90 05 00000000:00000000 03:0000175D 00000000     0        0 0 1\n"
        "   2: 0100007F:1F90 0100007F:9C40 08 00000000:00000000 00:00000000 00000000     0        0 3 1\n")
    assert owner_uid(("127.0.0.1", 40000), ("127.0.0.1", 8080), tables=(table,)) is None
    with socket.socket() as listener:  # the same with a real socket, closed by this process
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        client.sendall(b"x")
        accepted, _ = listener.accept()
        with accepted:
            client.close()  # orphaned: the kernel keeps it in FIN_WAIT2 until we close our end
            assert owner_uid(accepted.getpeername(), accepted.getsockname()) is None
