"""Usage figures: Docker stats and /proc parsing, rates from samples, sim steering, metrics.k8s.io documents."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.hostusage import cpu_core_ns, memory_working_set_bytes
from agent.runtime.base import ContainerUsage
from agent.runtime.docker import usage_from_stats
from agent.runtime.sim import steered
from agent.stats import Sample, rate
from kubelite.api.core import Node, Pod
from kubelite.api.quantity import format_nano_cores
from kubelite.gateway.metrics_api import format_window, node_metrics, pod_metrics

STAT = """cpu  100 5 50 1000 20 1 2 3 7 0
cpu0 50 2 25 500 10 0 1 1 0 0
intr 1 2 3
"""
MEMINFO = """MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:    9000000 kB
Inactive(file):  2000000 kB
"""


def test_proc_figures() -> None:
    # busy = user+nice+system+irq+softirq+steal = 100+5+50+1+2+3 ticks; guest (7) is inside user already
    assert cpu_core_ns(STAT, ticks_per_second=100) == 161 * 10_000_000
    assert memory_working_set_bytes(MEMINFO) == (16000000 - 4000000 - 2000000) * 1024


def test_docker_stats_working_set_is_usage_minus_inactive_file() -> None:
    raw = {"cpu_stats": {"cpu_usage": {"total_usage": 18235513}},
           "memory_stats": {"usage": 10 << 20, "stats": {"total_inactive_file": 4 << 20}}}
    assert usage_from_stats(raw) == ContainerUsage(18235513, 6 << 20)
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 5}}, "memory_stats": {"usage": 100, "stats": {"inactive_file": 300}}}
    assert usage_from_stats(v2) == ContainerUsage(5, 0)  # never negative
    assert usage_from_stats({"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}) is None  # stopped


def sample(mono: float, cpu_ns: int, memory: int = 0) -> Sample:
    return Sample(wall=1_700_000_000 + mono, mono=mono, usage=ContainerUsage(cpu_ns, memory))


def test_rate_from_two_samples() -> None:
    measured = rate(sample(10, 1_000_000_000), sample(12, 2_500_000_000, 7))
    assert measured is not None and measured.nano_cores == 750_000_000 and measured.window == 2
    assert measured.working_set_bytes == 7
    assert rate(None, sample(1, 5)) is None
    assert rate(sample(5, 100), sample(5, 200)) is None  # no window
    assert rate(sample(5, 300), sample(6, 200)) is None  # counter went backwards


@given(st.integers(0, 10**15), st.integers(0, 10**12), st.floats(0.01, 1000))
def test_rate_times_window_gives_back_the_cpu_spent(start: int, spent: int, window: float) -> None:
    measured = rate(sample(1.0, start), sample(1.0 + window, start + spent))
    assert measured is not None and abs(measured.nano_cores * measured.window - spent) <= measured.window + 1


def test_sim_steering_per_pod_and_per_container() -> None:
    annotations = {"sim.kubelite.io/cpu": "750m", "sim.kubelite.io/cpu.side": "100m", "sim.kubelite.io/memory": "bad"}
    assert steered(annotations, "sim.kubelite.io/cpu", "app", 3) == 0.25
    assert abs(steered(annotations, "sim.kubelite.io/cpu", "side", 3) - 0.1) < 1e-9
    assert steered(annotations, "sim.kubelite.io/memory", "app", 1) == 0.0  # malformed: nothing
    assert steered({}, "sim.kubelite.io/memory", "app", 1) == 0.0


def test_quantities_and_windows_as_metrics_server_writes_them() -> None:
    assert [format_nano_cores(n) for n in (2_000_000_000, 1_500_000_000, 375_000_363, 12_000, 0)] == [
        "2", "1500m", "375000363n", "12u", "0"]
    assert [format_window(s) for s in (10.0123, 1.0, 0.5, 60.5, 125.25)] == [
        "10.012s", "1s", "0.5s", "1m0.5s", "2m5.25s"]


def test_documents_from_a_summary() -> None:
    pod = Pod.model_validate({"metadata": {"name": "web", "namespace": "default", "uid": "u1",
                                           "labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}})
    stats = {"cpu": {"time": "2026-01-01T00:00:10Z", "usageNanoCores": 500_000_000, "window": 10.0},
             "memory": {"workingSetBytes": 64 << 20}}
    entry = {"podRef": {"uid": "u1"}, "containers": [{"name": "a", **stats}, {"name": "b"}]}  # b has no rate yet
    doc = pod_metrics(pod, entry, "2026-01-01T00:00:11Z")
    assert doc == {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                   "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:11Z",
                                "labels": {"app": "web"}},
                   "timestamp": "2026-01-01T00:00:10Z", "window": "10s",
                   "containers": [{"name": "a", "usage": {"cpu": "500m", "memory": "64Mi"}}]}
    assert pod_metrics(pod, {"containers": [{"name": "b"}]}, "now") is None
    node = Node.model_validate({"metadata": {"name": "n"}})
    assert node_metrics(node, {"node": {}}, "now") is None
    found = node_metrics(node, {"node": stats}, "now")
    assert found is not None and found["usage"] == {"cpu": "500m", "memory": "64Mi"} and found["window"] == "10s"


def test_cgroup_files_v1_and_v2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.runtime.cgroupusage import read_cgroup_usage

    v1 = tmp_path / "v1"
    (v1 / "cpuacct/docker/abc").mkdir(parents=True)
    (v1 / "memory/docker/abc").mkdir(parents=True)
    (v1 / "cpuacct/docker/abc/cpuacct.usage").write_text("22170413\n")
    (v1 / "memory/docker/abc/memory.usage_in_bytes").write_text("10485760\n")
    (v1 / "memory/docker/abc/memory.stat").write_text("cache 0\ntotal_inactive_file 4194304\n")
    assert read_cgroup_usage("abc", v1) == ContainerUsage(22170413, 6 << 20)
    v2 = tmp_path / "v2" / "docker" / "abc"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (v2 / "memory.current").write_text("100\n")
    (v2 / "memory.stat").write_text("anon 50\ninactive_file 300\n")
    assert read_cgroup_usage("abc", tmp_path / "v2") == ContainerUsage(1_500_000, 0)
    assert read_cgroup_usage("missing", v1) is None  # not this driver or not local: the stats API is asked


def test_a_rate_is_taken_over_the_runtimes_own_stamps_when_it_gives_them() -> None:
    """The collector's clock includes the call's latency; the runtime's stamps do not (cAdvisor's)."""
    before = Sample(wall=100.0, mono=10.0, usage=ContainerUsage(cpu_core_ns=0, memory_working_set_bytes=1, at=5.0))
    after = Sample(wall=101.5, mono=11.5, usage=ContainerUsage(cpu_core_ns=100_000_000, memory_working_set_bytes=1,
                                                               at=6.0))
    measured = rate(before, after)
    assert measured is not None and measured.window == 1.0 and measured.nano_cores == 100_000_000
