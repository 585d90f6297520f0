"""pods/exec, attach, cp, port-forward and logs --previous with the real kubectl (1.32) and the official
Python client → gateway → agent → Docker, and the same on the oci runtime (runc). Two tests per runtime,
each one cluster (etcd, gateway, agent)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import docker
import pytest

from kubelite.node.agent_auth import node_token
from kubelite.api import parse_object
from kubelite.api.resources import PODS, SERVICES
from kubelite.etcd.server import EmbeddedEtcd, free_port
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from agent.runtime.base import ContainerNotFound, TerminalSize
from agent.runtime.docker_streams import sized_at_start
from tests.agent.conftest import StartAgent
from tests.agent.runtimes import RuntimeNode, processes_of
from tests.gateway.conftest import KUBECTL, Kubectl, gateway_config, stop_or_explain
from tests.helpers import wait_for


pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

SECRET = "test-agent-secret"
IMAGE = "kubelite/demo:latest"
WEB = ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"]


def pod(name: str, node: str, command: list[str], *, labels: dict[str, str] | None = None,
        **container: object) -> object:
    return parse_object({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [
            {"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": command, **container}]}})


@pytest.fixture
async def cluster(etcd: EmbeddedEtcd, store: Store, tmp_path: Path, start_agent: StartAgent,
                  runtime_node: RuntimeNode) -> AsyncIterator[tuple[Gateway, Kubectl, str]]:
    assert Path(KUBECTL).exists(), f"kubectl is needed at {KUBECTL}"
    secret_file = tmp_path / "agent-secret"
    secret_file.write_text(SECRET)
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret_file))
    await gw.start()
    home = tmp_path / "kubectl-home"
    home.mkdir()
    try:
        node = runtime_node.node
        await start_agent(node, runtime=runtime_node.make(), token=node_token(SECRET, node))
        yield gw, Kubectl(gw.url, home), node
    finally:
        await stop_or_explain(gw)


async def running(store: Store, name: str, timeout: float = 60) -> None:
    async def ready() -> bool:
        current = await store.get(PODS, name, "default")
        statuses = (current.status.container_statuses if current.status else None) or []
        return bool(statuses) and all(s.state is not None and s.state.running is not None for s in statuses)
    await wait_for(ready, timeout, message=f"pod {name} running")


async def container_id_of(store: Store, runtime_node: RuntimeNode, pod: str) -> str:
    """The runtime's id of the pod's (only) running container."""
    current = await store.get(PODS, pod, "default")
    statuses = (current.status.container_statuses if current.status else None) or []
    ids = [runtime_node.container_id(s.container_id) for s in statuses if s.container_id and s.state and s.state.running]
    assert len(ids) == 1, statuses
    return ids[0]


async def exec_processes(store: Store, runtime_node: RuntimeNode, pod: str, marker: str) -> list[str]:
    """The processes of the pod's running container whose command line holds ``marker``."""
    current = await store.get(PODS, pod, "default")
    statuses = (current.status.container_statuses if current.status else None) or []
    ids = [runtime_node.container_id(s.container_id) for s in statuses if s.container_id and s.state and s.state.running]
    return [line for container_id in ids for line in processes_of(container_id) if marker in line]


async def ask_until(fd: int, command: bytes, wanted: bytes, seen: bytearray, timeout: float = 20) -> None:
    """Type ``command`` on the terminal, again every 2 s, until ``wanted`` shows (a size kubectl
    sends apart from stdin may land after input typed at once)."""
    async def shown() -> bool:
        os.write(fd, command)
        with contextlib.suppress(AssertionError):
            await read_until(fd, wanted, seen, timeout=2)
        return wanted in seen
    await wait_for(shown, timeout, 0, message=f"{wanted!r} on the terminal")


async def read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while wanted not in seen:
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            await asyncio.wait_for(ready.wait(), deadline - loop.time())
        except TimeoutError:
            raise AssertionError(f"{wanted!r} not seen on the terminal; got {bytes(seen)!r}") from None
        finally:
            loop.remove_reader(fd)
        try:
            seen += os.read(fd, 65536)
        except OSError:  # EIO: kubectl closed its end (it exited); nothing more will come
            raise AssertionError(f"{wanted!r} not seen before kubectl left the terminal; got {bytes(seen)!r}") from None


async def terminal_output(runtime_node: RuntimeNode, container_id: str, command: list[str], size: TerminalSize,
                          typed: bytes = b"") -> bytes:
    """Everything a terminal exec opened at ``size`` shows until it ends, with ``typed`` written the
    moment the stream is open (on a runtime adapter of the node's own, without kubectl's timing)."""
    runtime = runtime_node.make()
    await runtime.start()
    try:
        stream = await runtime.exec_stream(container_id, command, stdin=True, tty=True, size=size)
        try:
            await stream.write(typed)
            shown = b""
            async with asyncio.timeout(20):
                while (item := await stream.read()) is not None:
                    shown += item[1]
            return shown
        finally:
            await stream.close()
    finally:
        await runtime.stop()


def starts_sized(runtime_node: RuntimeNode) -> bool:
    """Whether the runtime sizes a terminal exec before its process runs: oci (runc's consoleSize) and
    Docker from Engine API 1.42 (ConsoleSize); older engines size it as the process starts."""
    if runtime_node.kind == "oci":
        return True
    client = docker.APIClient(version="auto")
    try:
        return sized_at_start(client.api_version)
    finally:
        client.close()


def kubectl_env(kubectl: Kubectl) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig), "HOME": str(kubectl.home)}


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def test_exec_tty_stdin_exit_codes_hangup_cp_attach_and_previous_logs(
    cluster: tuple[Gateway, Kubectl, str], store: Store, runtime_node: RuntimeNode, tmp_path: Path,
) -> None:
    gw, kubectl, node = cluster
    await store.create(PODS, pod("web", node, WEB))
    await store.create(PODS, pod("att", node, ["sh"], stdin=True))
    await store.create(PODS, pod("tty", node, ["sh"], stdin=True, tty=True))
    await store.create(PODS, pod("crash", node, ["sh", "-c", "cat /proc/sys/kernel/random/uuid; exit 1"]))
    await running(store, "web")

    # exit codes become kubectl's; -c names the container; stdout and stderr stay apart; stdin reaches it
    result = await kubectl("exec", "web", "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                           check=False)
    assert (result.returncode, result.stdout, result.stderr.splitlines()[0]) == (3, "out\n", "err")
    assert "command terminated with exit code 3" in result.stderr
    assert (await kubectl("exec", "-i", "web", "--", "md5sum", stdin="some input\n")).stdout.split()[0] \
        == hashlib.md5(b"some input\n").hexdigest()  # noqa: S324 - a checksum, not security
    missing = await kubectl("exec", "web", "-c", "nope", "--", "true", check=False)
    assert missing.returncode == 1 and "container nope is not valid for pod web" in missing.stderr

    # an interactive shell on a terminal: the terminal's size, a resize, and the exit code
    master, slave = os.openpty()
    set_size(slave, 30, 100)
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--server", gw.url, "exec", "-it", "web", "--", "sh", stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True, env=kubectl_env(kubectl))
    os.close(slave)
    seen = bytearray()
    try:
        os.write(master, b"stty size\n")
        await read_until(master, b"30 100", seen)
        set_size(master, 40, 120)
        proc.send_signal(signal.SIGWINCH)

        # kubectl sends the new size from its own goroutine, apart from stdin: input typed at once may
        # overtake it (CI, docker), so ask until the new size shows
        await ask_until(master, b"stty size\n", b"40 120", seen)
        os.write(master, b"exit 4\n")
        assert await asyncio.wait_for(proc.wait(), 20) == 4
    finally:
        if proc.returncode is None:
            proc.kill()
        os.close(master)

    # the same without kubectl's timing (the first stty above ran before its size once, CI): a terminal exec
    # opened at a size answers input typed at once with that size, and, where the runtime sizes the terminal
    # before the process runs, so does the process's very first instruction
    web_id = await container_id_of(store, runtime_node, "web")
    assert b"30 100" in await terminal_output(runtime_node, web_id, ["sh"], (100, 30), b"stty size; exit\n")
    if starts_sized(runtime_node):
        assert (await terminal_output(runtime_node, web_id, ["stty", "size"], (100, 30))).strip() == b"30 100"

    # hanging up (kubectl killed) ends the exec's process, with and without a terminal
    for marker, tty in (("sleep 4321", False), ("sleep 4322", True)):
        argv = ["exec", *(["-t"] if tty else []), "web", "--", *marker.split()]
        hung = await kubectl.start(*argv)
        try:
            await wait_for(lambda m=marker: exec_processes(store, runtime_node, "web", m), 20,
                           message=f"{marker} runs")
        finally:
            hung.kill()
            await hung.wait()
        async def ended(m: str = marker) -> bool:
            return not await exec_processes(store, runtime_node, "web", m)

        await wait_for(ended, 20, message=f"{marker} gone after the hang-up")

    # back-pressure: a client that stops reading stops the process (nothing buffers 64 MB for it);
    # v4 is negotiated when the client offers only it, and the exit status ends the stream
    total = 64_000_000
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{gw.url}/api/v1/namespaces/default/pods/web/exec?stdout=true&command=head"
                                   f"&command=-c&command={total}&command=/dev/zero", protocols=("v4.channel.k8s.io",))
        assert ws.protocol == "v4.channel.k8s.io"
        first = await ws.receive_bytes(timeout=20)
        assert first[0] == 1
        await asyncio.sleep(2)  # the window in which an unbounded buffer would take all 64 MB
        assert await exec_processes(store, runtime_node, "web", f"head -c {total}"), "the writer ran on unread"
        received, status = len(first) - 1, b""
        async for message in ws:
            if message.data[0] == 1:
                received += len(message.data) - 1
            elif message.data[0] == 3:
                status = message.data[1:]
        assert received == total and b'"Success"' in status

    # kubectl cp both ways (tar over exec, stdin closed by v5's close signal)
    blob = os.urandom(3 << 20)
    (tmp_path / "blob").write_bytes(blob)
    await kubectl("cp", str(tmp_path / "blob"), "web:/tmp/blob", timeout=60)
    assert (await kubectl("exec", "web", "--", "md5sum", "/tmp/blob")).stdout.split()[0] \
        == hashlib.md5(blob).hexdigest()  # noqa: S324
    await kubectl("cp", "web:/www", str(tmp_path / "www"), timeout=60)
    assert (tmp_path / "www" / "index.html").read_text() == "hello\n"

    # attach -it to a container that has a terminal: its size follows kubectl's
    await running(store, "tty")
    master, slave = os.openpty()
    set_size(slave, 25, 90)
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--server", gw.url, "attach", "-it", "tty", stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True, env=kubectl_env(kubectl))
    os.close(slave)
    seen = bytearray()
    try:
        # kubectl sends the size plus one, then the size (to force a redraw): ask until the last one shows
        await ask_until(master, b"stty size; tty\n", b"25 90", seen)
        await read_until(master, b"/dev/pts/", seen)  # the container's own terminal
    finally:
        proc.kill()
        await proc.wait()
        os.close(master)

    # attach to a container's own stdin/stdout
    await running(store, "att")
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--server", gw.url, "attach", "-i", "att", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=kubectl_env(kubectl))
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"echo attached-$((6*7))\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line == b"attached-42\n"
    finally:
        proc.kill()
        await proc.wait()

    # logs --previous: the instance the status reports as lastState (kubelet's rule)
    async def restarted() -> object:
        current = await store.get(PODS, "crash", "default")
        statuses = (current.status.container_statuses if current.status else None) or []
        last = statuses[0].last_state.terminated if statuses and statuses[0].last_state else None
        return last if last is not None and last.container_id else None
    await wait_for(restarted, 60, message="crash restarted")

    async def previous_is_last_state() -> tuple[bytes, bytes] | None:
        """(kubectl's --previous, the runtime's log of the lastState instance) from a moment the pod
        did not restart in: a restart in between moves lastState on and removes the older instance."""
        before = await restarted()
        if before is None:
            return None
        try:
            expected = await runtime_node.log_text(before.container_id.partition("://")[2])  # type: ignore[attr-defined]
        except ContainerNotFound:  # removed by a restart just now: read again
            return None
        got = (await kubectl("logs", "crash", "--previous", check=False)).stdout.encode()
        after = await restarted()
        same = after is not None and after.container_id == before.container_id  # type: ignore[attr-defined]
        return (got, expected) if same else None
    got, expected = await wait_for(previous_is_last_state, 60, message="logs --previous while crash did not restart")
    assert got == expected and expected
    never = await kubectl("logs", "web", "--previous", check=False)
    assert never.returncode == 1 and 'previous terminated container "main" in pod "web" not found' in never.stderr


async def stop(process: asyncio.subprocess.Process) -> None:
    """Kill a kubectl that may have ended by itself: kubectl 1.32's port-forward exits after a
    forwarded connection failed (CI once saw the kill raise ProcessLookupError there)."""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def test_port_forward_kubectl_pod_and_service_and_python_client(
    cluster: tuple[Gateway, Kubectl, str], store: Store,
) -> None:
    gw, kubectl, node = cluster
    await store.create(PODS, pod("web", node, WEB, labels={"app": "web"}))
    await store.create(SERVICES, parse_object({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": 80}]}}))
    await running(store, "web")
    big = os.urandom(8 << 20)
    writer = await asyncio.create_subprocess_exec(
        KUBECTL, "--server", gw.url, "exec", "-i", "web", "--", "sh", "-c", "cat > /www/big",
        stdin=asyncio.subprocess.PIPE, env=kubectl_env(kubectl))
    await asyncio.wait_for(writer.communicate(big), 60)
    assert writer.returncode == 0

    for target, remote in (("pod/web", "80"), ("svc/web", "8080")):
        local = free_port()
        forward = await kubectl.start("port-forward", target, f"{local}:{remote}")
        try:
            assert forward.stdout is not None
            line = await asyncio.wait_for(forward.stdout.readline(), 20)
            assert f"Forwarding from 127.0.0.1:{local} -> 80" in line.decode()
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{local}") as http:
                async def get(path: str) -> bytes:
                    async with http.get(path, headers={"Connection": "close"}) as response:
                        assert response.status == 200
                        return await response.read()
                # several connections at once through one forward, one of them 8 MiB
                bodies = await asyncio.wait_for(asyncio.gather(get("/big"), *(get("/") for _ in range(8))), 60)
            assert bodies[0] == big and all(body == b"hello\n" for body in bodies[1:])
        finally:
            await stop(forward)

    # nothing listening: the connection is closed and kubectl reports the error the agent sent
    local = free_port()
    forward = await kubectl.start("port-forward", "pod/web", f"{local}:81")
    try:
        assert forward.stdout is not None and forward.stderr is not None
        await asyncio.wait_for(forward.stdout.readline(), 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        assert await asyncio.wait_for(reader.read(), 20) == b""
        writer.close()
        line = await asyncio.wait_for(forward.stderr.readline(), 20)
        assert b"failed to connect to localhost:81 inside the pod: connection refused" in line
    finally:
        await stop(forward)

    # the Python client's websocket port-forward: two ports, one with nothing listening (error channel)
    from kubernetes import client as k8s
    from kubernetes.stream import portforward

    def python_client() -> tuple[bytes, str | None]:
        config = k8s.Configuration(host=gw.url)
        with k8s.ApiClient(config) as api_client:
            api = k8s.CoreV1Api(api_client)
            forward = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="80,81")
            sock = forward.socket(80)
            sock.setblocking(True)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            refused = forward.socket(81)
            refused.setblocking(True)
            assert refused.recv(10) == b""
            error = forward.error(81)
            forward.close()
            return reply, error

    reply, error = await asyncio.wait_for(asyncio.to_thread(python_client), 60)
    assert reply.startswith(b"HTTP/1.") and reply.endswith(b"hello\n")
    assert error is not None and "localhost:81" in error
