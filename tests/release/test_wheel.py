"""The release check (issue 19): the sdist and wheel as a release builds them
(``python -m build``, ``twine check``), the wheel installed into a fresh
virtualenv in a temporary directory outside the checkout, and from there
``kl up --runtime sim --demo`` brought up, queried with the real kubectl and
stopped with no process left. Every Python process of that venv carries an
audit hook (audit_open.py) that records reads of files missing from the
installed packages; any such read fails the check.

Cost: about a minute on 2 cores (the builds' isolated environments and the
venv's dependencies come from pip's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelite.images.busybox import find_static_busybox
from kubelite.images.context import BuildContext, demo_context, etcd_context
from kubelite.version import __version__, checkout_commit
from tests.cli.cluster import KlUp, alive, run_sync
from tests.unit.test_packaging import data_files_in_packages

REPO = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"
STEP_TIMEOUT = 600  # seconds for one build or install step (a cold pip cache downloads everything)

pytestmark = [pytest.mark.release, pytest.mark.timeout(1200)]


def run(argv: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=STEP_TIMEOUT)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Release:
    work: Path  # the temporary directory, outside the checkout
    wheel: Path
    sdist: Path
    venv: Path

    @property
    def kl(self) -> Path:
        return self.venv / "bin" / "kl"

    @property
    def audit_log(self) -> Path:
        return self.work / "missing-files.log"

    def env(self) -> dict[str, str]:
        """A user's environment: the venv's bin first, nothing pointing at the checkout."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["KUBELITE_OPEN_AUDIT"] = str(self.audit_log)
        return env


@pytest.fixture(scope="module")
def release() -> Iterator[Release]:
    work = Path(tempfile.mkdtemp(prefix="kubelite-release-"))
    assert not work.resolve().is_relative_to(REPO)
    try:
        dist = work / "dist"
        # sdist, then the wheel built from the unpacked sdist, each in an isolated build environment
        run([sys.executable, "-m", "build", "--outdir", dist, REPO], cwd=work)
        (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
        run([sys.executable, "-m", "venv", work / "venv"], cwd=work)
        py = work / "venv" / "bin" / "python"
        run([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", wheel], cwd=work)
        purelib = run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip()
        shutil.copy(Path(__file__).with_name("audit_open.py"), Path(purelib) / "kubelite_release_audit.py")
        (Path(purelib) / "kubelite_release_audit.pth").write_text("import kubelite_release_audit\n")
        yield Release(work=work, wheel=wheel, sdist=sdist, venv=work / "venv")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_sdist_and_wheel_pass_twine_check_and_carry_every_data_file(release: Release) -> None:
    assert release.wheel.name == f"kubelite-{__version__}-py3-none-any.whl"
    assert release.sdist.name == f"kubelite-{__version__}.tar.gz"
    out = run([sys.executable, "-m", "twine", "check", "--strict", release.wheel, release.sdist], cwd=release.work)
    assert out.count("PASSED") == 2, out
    names = set(zipfile.ZipFile(release.wheel).namelist())
    missing = data_files_in_packages() - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert not {n for n in names if n.startswith("tests/")}, "tests do not belong in the wheel"
    metadata = zipfile.ZipFile(release.wheel).read(f"kubelite-{__version__}.dist-info/METADATA").decode()
    for field in ("License-Expression: Apache-2.0", "Project-URL: Repository", "Classifier: ", "Requires-Python"):
        assert field in metadata
    entry_points = zipfile.ZipFile(release.wheel).read(f"kubelite-{__version__}.dist-info/entry_points.txt")
    assert b"kl = kubelite.cli.main:app" in entry_points
    commit = checkout_commit(REPO)
    if commit is not None:  # built from a checkout: the wheel names its commit
        recorded = json.loads(zipfile.ZipFile(release.wheel).read("kubelite/_build.json"))
        assert recorded == {"commit": commit.sha, "treeState": commit.tree_state}


def test_the_audit_hook_reports_a_missing_packaged_file(release: Release) -> None:
    """The detector itself: a read of an absent file in the installed package is recorded."""
    probe = "import kubelite, pathlib; pathlib.Path(kubelite.__file__).with_name('absent.json').read_text()"
    result = subprocess.run([release.venv / "bin" / "python", "-c", probe], cwd=release.work,
                            env={**release.env(), "KUBELITE_OPEN_AUDIT": str(release.work / "probe.log")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "FileNotFoundError" in result.stderr
    assert "kubelite/absent.json" in (release.work / "probe.log").read_text()


def test_installed_image_contexts_match_the_checkouts(release: Release) -> None:
    """The image build contexts (Dockerfiles, the demo page, etcd binaries) come from the installed
    package, byte for byte what the checkout builds: same digest, same image label."""
    busybox = find_static_busybox()
    assert busybox is not None
    probe = ("import sys; from pathlib import Path; from kubelite.images.context import BuildContext, demo_context, "
             "etcd_context; print(BuildContext.digest_of(demo_context(Path(sys.argv[1])).tar()), "
             "BuildContext.digest_of(etcd_context().tar()))")
    out = run([release.venv / "bin" / "python", "-c", probe, busybox], cwd=release.work, env=release.env())
    assert out.split() == [BuildContext.digest_of(demo_context(busybox).tar()),
                           BuildContext.digest_of(etcd_context().tar())]


class InstalledKlUp(KlUp):
    """``kl up`` run as a user would: the venv's kl, from the temporary directory."""

    release: Release

    def start(self) -> None:
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(
                [str(self.release.kl), "up", "--runtime", "sim", "--demo", "--listen", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.data_dir), *self.args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.release.work,
                env=self.release.env())

    def interrupt(self, timeout: float = 90.0) -> int:
        """Ctrl-C: SIGINT, then wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kl up did not stop within {timeout:g} s:\n{self.output()}") from None


def test_installed_kl_up_serves_the_demo_to_kubectl_and_stops_clean(release: Release) -> None:
    cluster = InstalledKlUp(data_dir=release.work / "data")
    cluster.release = release
    cluster.start()
    try:
        run_sync(cluster.wait_up())
        assert str(REPO) not in cluster.output()  # nothing of the checkout runs
        assert f"demo: deployment.apps/web created (from {release.venv}" in cluster.output()
        kubectl = [KUBECTL, "--kubeconfig", str(cluster.data_dir / "kubeconfig")]
        deployment = json.loads(run([*kubectl, "get", "deployment", "web", "-o", "json"], cwd=release.work))
        assert deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"] == 2
        pods = run([*kubectl, "get", "pods", "-l", "app=web", "--no-headers"], cwd=release.work).splitlines()
        assert len(pods) == 2 and all(" Running " in line for line in pods), pods
        server = json.loads(run([*kubectl, "version", "-o", "json"], cwd=release.work))["serverVersion"]
        assert server["gitVersion"] == "v1.32.0+kubelite"
        version = run([release.kl, "--kubeconfig", cluster.data_dir / "kubeconfig", "version"],
                      cwd=release.work, env=release.env())
        assert f"Client Version: v{__version__}" in version and "Server Version: v1.32.0+kubelite" in version
        pids = cluster.pids()
        assert len(pids) == 3  # etcd, the control plane (controller-manager and gateway), one sim agent process
        assert cluster.interrupt() == 0
        assert "stopped: no process left" in cluster.output()
        assert not [pid for pid in pids if alive(pid)]
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:
            cluster.proc.kill()
            cluster.proc.wait()
        cluster.kill_leftovers()
    missing = release.audit_log.read_text() if release.audit_log.exists() else ""
    assert not missing, f"the installed kubelite tried to read files the wheel lacks:\n{missing}"


USER_CHAOS_TEST = '''
import pytest, yaml
from kubelite.testing import AcknowledgedWrites, Converged, EtcdKill, TimeToFirstWrite
MY_DEPLOYMENT = yaml.safe_load(open("web.yaml"))

@pytest.mark.asyncio
@pytest.mark.chaos
@pytest.mark.kubelite_cluster(etcd_members=3, agents=2)
async def test_my_deployment_survives_an_etcd_leader_kill(kubelite_cluster, kubelite_faults):
    api = await kubelite_faults.api()
    await api.until_ok(lambda: api.call("POST", "/apis/apps/v1/namespaces/default/deployments", MY_DEPLOYMENT), what="create")
    probe = await kubelite_faults.probe()
    assert await kubelite_faults.inject(EtcdKill("leader"))
    await kubelite_faults.writes_resumed(timeout=15)
    await kubelite_faults.heal_all()
    await kubelite_faults.check(AcknowledgedWrites(probe), TimeToFirstWrite(probe, 15), Converged(timeout=120))
'''


def test_a_separate_project_runs_a_leader_kill_with_the_installed_pytest_plugin(release: Release) -> None:
    """docs/chaos.md's ten-line chaos test, in a project that has only the wheel (with its
    ``testing`` extra) installed: the plugin's fixtures start a 3-member etcd in containers and
    kubelite's processes from the venv, and the report comes out as JSON."""
    project = release.work / "user-project"
    project.mkdir()
    shutil.copy(REPO / "examples/chaos/web.yaml", project / "web.yaml")
    (project / "test_chaos.py").write_text(USER_CHAOS_TEST)
    py = release.venv / "bin" / "python"
    run([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", f"{release.wheel}[testing]"],
        cwd=project)
    out = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--kubelite-chaos-report=report.json",
               "test_chaos.py"], cwd=project, env=release.env())
    assert "1 passed" in out and "kubelite chaos figures" in out, out
    (report,) = json.loads((project / "report.json").read_text())
    assert report["verdict"] == "PASS", report
    assert [c["name"] for c in report["checks"]] == ["acknowledged-writes", "first-write", "converged"]
    assert report["figures"]["acknowledged-writes.lost"] == 0
    assert [e["action"] for e in report["events"]] == ["inject", "heal"]
    assert str(REPO) not in (project / "report.json").read_text()
