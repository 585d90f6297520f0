"""Jobs, CronJobs and encrypted Secrets end to end: `kl up --runtime docker` and the real kubectl 1.32
(issue 14's docker e2e: a Job with 5 completions finishes; a CronJob every minute creates a Job within 70 s)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import pytest

from kubelite.etcd.client import EtcdConfig, connect
from kubelite.etcd.ops import range_
from kubelite.testing.existing import etcd_access_of
from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for

JOBS = """
apiVersion: batch/v1
kind: Job
metadata: {name: five}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: kubelite/demo:latest, command: [sh, -c, "echo done"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 2
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: kubelite/demo:latest, command: [sh, -c, "echo index=$JOB_COMPLETION_INDEX"]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: minutely}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: tick, image: kubelite/demo:latest, command: [sh, -c, "echo tick"]}
"""


@pytest.mark.docker
def test_jobs_cronjob_and_encrypted_secret_on_docker(tmp_path: Path, demo_image: str,
                                                     docker_client: docker.DockerClient) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "docker", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        kubectl = ["kubectl", "--server", up.server, "--request-timeout=30s"]

        def run(*args: str, stdin: str | None = None, timeout: float = 60) -> str:
            result = subprocess.run([*kubectl, *args], input=stdin, capture_output=True, text=True, timeout=timeout)
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
            return result.stdout

        started = time.monotonic()
        run("apply", "-f", "-", stdin=JOBS)
        run("create", "secret", "generic", "db", "--from-literal=password=hunter2")
        run("wait", "--for=condition=complete", "job/five", "job/indexed", "--timeout=120s", timeout=150)
        assert "5/5" in run("get", "job", "five")
        logs = sorted(run("logs", pod).strip() for pod in
                      run("get", "pods", "-l", "job-name=indexed", "-o", "name").split())
        assert logs == ["index=0", "index=1"]
        # the CronJob: a Job of its own within 70 s of its creation
        def cron_jobs() -> list[str]:
            return [n for n in run("get", "jobs", "-o", "name").split() if n.startswith("job.batch/minutely-")]

        run_sync(wait_for(cron_jobs, timeout=max(1.0, started + 70 - time.monotonic()), interval=1.0,
                          message="a Job from the CronJob within 70 s"))
        # the Secret reads back, while etcd holds only ciphertext
        assert run("get", "secret", "db", "-o", "jsonpath={.data.password}") == "aHVudGVyMg=="
        stored = run_sync(_raw(etcd_access_of(up.state).config(), "/registry/secrets/default/db"))
        assert stored.startswith(b"k8s:enc:aescbc:v1:key1:") and b"aHVudGVyMg" not in stored
        events = run("get", "events", "-A", "-o", "json")
        for text in [events, up.output(), *(p.read_text(errors="replace") for p in (up.data_dir / "logs").glob("*"))]:
            assert "hunter2" not in text and "aHVudGVyMg" not in text  # never in logs or events
        assert up.stop() == 0, up.output()
    finally:
        up.stop()
        up.kill_leftovers()


async def _raw(config: EtcdConfig, key: str) -> bytes:
    client = await connect(config)
    try:
        response = await range_(client, key, what="test read")
        return bytes(response.kvs[0].value)
    finally:
        await client.close()
