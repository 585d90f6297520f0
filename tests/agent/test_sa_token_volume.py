"""The agent's serviceAccountToken projection (agent/podconfig/tokens.py + the volume manager):
the kubelet's 80 % refresh rule, the token file rewritten through the atomic writer when it is
refreshed (a fake clock and a fake TokenRequest, not a long wait), a failed refresh keeping the
still-valid token, and the sim runtime recording the requests it would make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubelite.api.core import Pod
from kubelite.registry.sa_admission import admit
from agent.podconfig.env import Sources
from agent.podconfig.fieldpath import PodRuntimeFacts
from agent.podconfig.tokens import Issued, TokenError, TokenKey, TokenManager, requires_refresh
from agent.podconfig.volumes import MountError, VolumeManager

FACTS = PodRuntimeFacts(allocatable_cpu_millis=1000, allocatable_memory_bytes=1 << 30)
CA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
SOURCES = Sources(config_map=lambda ns, n: {"data": {"ca.crt": CA}} if n == "kube-root-ca.crt" else None,
                  secret=lambda ns, n: None)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FakeGateway:
    """Answers TokenRequests like the gateway: a numbered token of the asked lifetime from now."""

    def __init__(self, clock: list[datetime]) -> None:
        self.clock = clock
        self.asked: list[TokenKey] = []
        self.down = False

    async def request(self, key: TokenKey) -> Issued:
        if self.down:
            raise TokenError("failed to fetch token: connection refused")
        self.asked.append(key)
        return Issued(f"token-{len(self.asked)}", self.clock[0] + timedelta(seconds=key.seconds), key.seconds)


def admitted_pod(seconds: int | None = None) -> Pod:
    pod = admit(Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}),
                {"metadata": {"name": "default"}})
    if seconds is not None:
        doc = pod.to_dict()
        doc["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] = seconds
        pod = Pod.model_validate(doc)
    return pod


def test_refresh_rule_is_the_kubelets() -> None:
    issued = Issued("t", T0 + timedelta(seconds=1000), 1000)
    assert not requires_refresh(issued, T0 + timedelta(seconds=799), 0)
    assert requires_refresh(issued, T0 + timedelta(seconds=801), 0)
    assert requires_refresh(issued, T0 + timedelta(seconds=791), 10)  # jitter brings it earlier
    day = Issued("t", T0 + timedelta(hours=48), 48 * 3600)
    assert not requires_refresh(day, T0 + timedelta(hours=23), 0)
    assert requires_refresh(day, T0 + timedelta(hours=24, seconds=1), 0)  # never older than 24 h


async def test_token_file_is_written_and_refreshed_at_80_percent(tmp_path: Path) -> None:
    clock = [T0]
    gateway = FakeGateway(clock)
    manager = VolumeManager(tmp_path, sources=SOURCES,
                            tokens=TokenManager(gateway, clock=lambda: clock[0], jitter=lambda: 0.0))
    pod = admitted_pod(seconds=600)
    volume = pod.spec.volumes[0].name  # type: ignore[index]
    mounted = Path((await manager.setup(pod, FACTS))[volume].path)
    assert (mounted / "token").read_text() == "token-1"
    assert (mounted / "ca.crt").read_text() == CA and (mounted / "namespace").read_text() == "ns"
    assert gateway.asked == [TokenKey("ns", "default", "p", "uid-1", "", 600)]
    first_version = (mounted / "..data").readlink()

    clock[0] = T0 + timedelta(seconds=470)  # 78 %: the cached token is reused, nothing rewritten
    await manager.setup(pod, FACTS)
    assert (mounted / "token").read_text() == "token-1" and (mounted / "..data").readlink() == first_version

    clock[0] = T0 + timedelta(seconds=481)  # past 80 %: a new token, swapped in atomically
    await manager.setup(pod, FACTS)
    assert (mounted / "token").read_text() == "token-2" and (mounted / "..data").readlink() != first_version
    assert len(gateway.asked) == 2

    gateway.down = True  # the refresh fails while the token is still valid: it is kept
    clock[0] += timedelta(seconds=500)
    await manager.setup(pod, FACTS)
    assert (mounted / "token").read_text() == "token-2"
    clock[0] += timedelta(seconds=200)  # expired and the gateway still down: no token to give
    assert manager.tokens is not None
    with pytest.raises(TokenError):
        await manager.tokens.get(gateway.asked[-1])
    # ... while a volume set up before keeps its last contents (the kubelet's rule for failed refreshes)
    await manager.setup(pod, FACTS)
    assert (mounted / "token").read_text() == "token-2"

    await manager.cleanup("uid-1")
    assert not mounted.exists()


async def test_without_an_api_server_the_mount_fails_and_sim_records(tmp_path: Path) -> None:
    pod = admitted_pod()
    with pytest.raises(MountError, match="no API server"):
        await VolumeManager(tmp_path, sources=SOURCES).setup(pod, FACTS)
    sim = VolumeManager(None, sources=SOURCES)
    await sim.setup(pod, FACTS)
    assert sim.would_request == {"uid-1": (TokenKey("ns", "default", "p", "uid-1", "", 3607),)}
    await sim.cleanup("uid-1")
    assert sim.would_request == {}


@pytest.mark.parametrize(("flags", "message"), [
    (["--api-server", "https://127.0.0.1:1", "--api-client-cert", "/nonexistent", "--api-client-key", "/nonexistent"],
     "error: --api-ca-file/--api-client-cert/--api-client-key: No such file or directory"),
    (["--api-server", "ftp://x"], "error: --api-server must be an http:// or https:// URL"),
])
def test_bad_api_flags_are_one_line(flags: list[str], message: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "agent", "--node", "n", "--runtime", "sim", "--listen", "none",
                           *flags], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().startswith(message) and "Traceback" not in done.stderr
