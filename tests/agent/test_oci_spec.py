"""Pure parts of the oci runtime: the OCI runtime spec from a container spec, and the CRI log format."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.runtime.base import LABEL_POD_NAME, ContainerSpec, Mount
from agent.runtime.oci import crilog
from agent.runtime.oci.spec import exec_process, process_args, runtime_spec

TEMPLATE: dict[str, Any] = {
    "process": {"args": ["/entry", "default-cmd"], "env": ["PATH=/bin", "HOME=/"], "cwd": "/"},
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
}


def spec(**kwargs: Any) -> ContainerSpec:
    return ContainerSpec(name="c", image="i", labels={LABEL_POD_NAME: "web"}, **kwargs)


def test_command_and_args_follow_the_kubelet_rules() -> None:
    entry = ["/entry"]
    image = ["/entry", "default-cmd"]
    assert process_args(image, entry, spec()) == ["/entry", "default-cmd"]
    assert process_args(image, entry, spec(args=["x"])) == ["/entry", "x"]  # args replace Cmd only
    assert process_args(image, entry, spec(command=["sh"])) == ["sh"]  # command drops the image's Cmd too
    assert process_args(image, entry, spec(command=["sh"], args=["-c", "true"])) == ["sh", "-c", "true"]


def test_runtime_spec_joins_the_pod_netns_sets_limits_env_mounts_and_hostname() -> None:
    config = runtime_spec(
        TEMPLATE, spec(command=["sleep", "1"], env={"HOME": "/root", "A": "1"}, cpu_millis=250, cpu_request_millis=100,
                       memory_bytes=64 << 20, mounts=(Mount("/host/v", "/data", read_only=True),)),
        rootfs="/r", netns_path="/var/run/netns/kl-x", cgroups_path="/kubelite-oci/id")
    assert config["process"]["args"] == ["sleep", "1"]
    assert config["process"]["env"] == ["PATH=/bin", "HOME=/root", "A=1"]  # the pod wins over the image
    assert {"type": "network", "path": "/var/run/netns/kl-x"} in config["linux"]["namespaces"]
    assert sum(ns["type"] == "network" for ns in config["linux"]["namespaces"]) == 1
    assert config["linux"]["resources"]["cpu"] == {"quota": 25_000, "period": 100_000, "shares": 102}
    assert config["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert config["mounts"][-1] == {"destination": "/data", "type": "bind", "source": "/host/v",
                                    "options": ["rbind", "ro"]}
    assert config["hostname"] == "web" and config["root"] == {"path": "/r", "readonly": False}
    assert config["linux"]["cgroupsPath"] == "/kubelite-oci/id"
    assert TEMPLATE["process"]["args"] == ["/entry", "default-cmd"]  # the template is not modified


def test_a_terminal_exec_runs_the_containers_process_settings_sized_from_the_start() -> None:
    config = runtime_spec(TEMPLATE, spec(command=["httpd"], env={"A": "1"}), rootfs="/r", netns_path=None,
                          cgroups_path="/kubelite-oci/id")
    process = exec_process(config, ["sh", "-l"], (100, 30))
    assert process["args"] == ["sh", "-l"] and process["terminal"] is True
    assert process["consoleSize"] == {"width": 100, "height": 30}  # runc sizes the pty before the process runs
    unchanged = {k: v for k, v in process.items() if k not in ("args", "terminal", "consoleSize")}
    assert unchanged == {k: v for k, v in config["process"].items() if k not in ("args", "terminal")}
    assert config["process"]["args"] == ["httpd"] and "consoleSize" not in config["process"]  # not modified
    assert "consoleSize" not in exec_process({**config, "process": process}, ["sh"], None)  # no size known


@given(st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]),
                          st.binary(max_size=40_000).filter(lambda b: b"\n" not in b)), max_size=5))
def test_cri_records_render_back_to_the_lines_written(lines: list[tuple[str, bytes]]) -> None:
    records = b"".join(crilog.format_records(stream, text + b"\n") for stream, text in lines)
    parsed = records.split(b"\n")[:-1] if records else []
    assert all(crilog.parse_record(r) is not None for r in parsed)
    assert crilog.render(parsed, timestamps=False) == [text + b"\n" for _, text in lines]


def test_cri_timestamps_are_rfc3339_nano_utc() -> None:
    assert crilog.rfc3339_nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    stamped = crilog.render([b"2023-11-14T22:13:20.000000001Z stdout F hi"], timestamps=True)
    assert stamped == [b"2023-11-14T22:13:20.000000001Z hi\n"]
