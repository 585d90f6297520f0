"""The agent's flags for log caps and eviction: defaults as the kubelet's, bad values refused
with one line naming the flag, and a help text that renders."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from agent.__main__ import agent_config, build_parser, make_runtime
from agent.agent import AgentConfig
from kubelite.node.evictionflags import Threshold
from agent.runtime.docker import DockerRuntime

REPO = Path(__file__).resolve().parents[2]


def test_help_renders() -> None:
    text = build_parser().format_help()
    assert "--container-log-max-size" in text and "nodefs.available<10%" in text


def test_defaults_are_the_kubelets() -> None:
    args = build_parser().parse_args(["--node", "n1"])
    assert args.container_log_max_size == 10 << 20 and args.container_log_max_files == 5
    assert args.eviction_hard == (Threshold("nodefs.available", percentage=0.10),
                                  Threshold("imagefs.available", percentage=0.15))
    runtime = make_runtime(build_parser().parse_args(["--node", "n1", "--container-log-max-size", "1Mi",
                                                      "--container-log-max-files", "2"]), "n1")
    assert isinstance(runtime, DockerRuntime)
    assert (runtime.log_limits.max_bytes, runtime.log_limits.max_files) == (1 << 20, 2)
    assert build_parser().parse_args(["--node", "n1", "--eviction-hard", ""]).eviction_hard == ()


def test_flags_compose_the_node_and_pod_parts() -> None:
    args = build_parser().parse_args(["--node", "n1", "--runtime", "sim", "--node-ip", "10.0.0.7", "--labels", "a=b",
                                      "--max-pods", "7", "--backoff-initial", "2", "--cluster-dns", "10.96.0.10"])
    config = agent_config(args, "n1", "tok")
    assert (config.node, config.node_ip) == ("n1", "10.0.0.7")
    assert (config.node_config.labels, config.node_config.max_pods) == ({"a": "b"}, 7)
    assert (config.pod_options.host_ip, config.pod_options.backoff_initial) == ("10.0.0.7", 2.0)
    assert config.pod_options.cluster_dns == "10.96.0.10" and config.token == "tok"
    with pytest.raises(ValueError, match="different nodes"):
        AgentConfig(config.node_config, dataclasses.replace(config.pod_options, node="n2"))


@pytest.mark.parametrize(("argv", "named"), [
    (["--container-log-max-size", "lots"], "quantity"),
    (["--container-log-max-size", "100"], "at least 1Ki"),
    (["--container-log-max-files", "1"], "at least 2"),
    (["--eviction-hard", "memory.available<1Gi"], "not supported"),
])
def test_bad_values_are_refused_in_one_line(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--node", "n1", *argv])
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_sim_agent_does_not_load_the_docker_sdk() -> None:
    # About 6.5 MB of RSS per sim agent process (issue 12, target 7): a sim agent never uses it.
    code = ("import sys, agent.__main__ as m; "
            "m.make_runtime(m.build_parser().parse_args(['--node', 'n1', '--runtime', 'sim']), 'n1'); "
            "print(sorted(n for n in ('docker', 'requests', 'agent.runtime.docker') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_labels_a_node_may_not_set_are_refused_at_start_in_one_line() -> None:
    """As the kubelet refuses such --node-labels (NodeRestriction would refuse the Node with them)."""
    done = subprocess.run([sys.executable, "-m", "agent", "--node", "n1", "--runtime", "sim", "--listen", "none",
                           "--etcd-endpoints", "127.0.0.1:1", "--labels", "node-role.kubernetes.io/worker=,zone=a"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.strip() == ("error: --labels: a node may not set node-role.kubernetes.io/worker: labels in the "
                                   "kubernetes.io and k8s.io namespaces other than the kubelet's own, and "
                                   "node-restriction.kubernetes.io/")
