"""kubelite.testing: chaos tests for your workload on a real kubelite cluster (docs/chaos.md).

    async with Cluster(ClusterSpec(etcd_members=3, agents=3), tmp_path) as cluster:
        report = await run_scenario(cluster, Scenario(...))

Parts: :class:`Cluster` (etcd members in containers or local processes, controller-managers,
gateways, sim or docker agents), faults with ``inject()``/``heal()`` (:mod:`.faults`), a seeded
:class:`Schedule`, workloads (:class:`ProbeWriter`, :class:`DeploymentChurn`,
:class:`UserWorkload`), checkers returning reports (:mod:`.checkers`), and the pytest plugin
(:mod:`.pytest_plugin`, fixtures ``kubelite_cluster`` and ``kubelite_faults``). Needs
``pip install kubelite[testing]`` for etcd in containers (testcontainers).
"""

from kubelite.testing.api import Api, deployment_doc
from kubelite.testing.checkers import (
    AcknowledgedWrites,
    Checker,
    Converged,
    NoDuplicatePods,
    NoOrphans,
    TimeToFirstWrite,
)
from kubelite.testing.checks import Expect, container_problems, problems, wait_converged
from kubelite.testing.cluster import Cluster, ClusterSpec
from kubelite.testing.dockerd import DockerEngine, PrivateDockerd
from kubelite.testing.etcd import ETCD_IMAGE, EtcdCluster
from kubelite.testing.etcd_local import LocalEtcdCluster, NotSupported
from kubelite.testing.faults import (
    CATALOGUE,
    ClockSkew,
    DockerEngineRestart,
    EtcdFreeze,
    EtcdKill,
    EtcdPartition,
    EtcdRestart,
    Fault,
    ProcessCutOff,
    ProcessKill,
    ProcessPause,
    Together,
)
from kubelite.testing.processes import AGENT_TOKEN, EtcdAccess, Proc, Processes, leader, node_ready
from kubelite.testing.proxy import Splice, TcpProxy
from kubelite.testing.report import COLLECTED, CheckReport, ScenarioReport, record, report
from kubelite.testing.schedule import Schedule, parse_duration
from kubelite.testing.waiting import wait_for
from kubelite.testing.workloads import DeploymentChurn, PodCountMonitor, ProbeWriter, UserWorkload

__all__ = [
    "AGENT_TOKEN", "CATALOGUE", "COLLECTED", "ETCD_IMAGE", "AcknowledgedWrites", "Api", "CheckReport", "Checker", "ClockSkew",
    "Cluster", "ClusterSpec", "Converged", "DeploymentChurn", "DockerEngine", "DockerEngineRestart", "EtcdAccess", "EtcdCluster", "EtcdFreeze", "EtcdKill",
    "EtcdPartition", "EtcdRestart", "Expect", "Fault", "LocalEtcdCluster", "NoDuplicatePods", "NoOrphans",
    "NotSupported", "PodCountMonitor", "ProbeWriter", "Proc", "ProcessCutOff", "ProcessKill", "ProcessPause",
    "PrivateDockerd", "Processes", "Schedule", "ScenarioReport", "Splice", "TcpProxy", "TimeToFirstWrite", "Together",
    "UserWorkload", "container_problems", "deployment_doc", "leader", "node_ready", "parse_duration", "problems",
    "record", "report", "wait_converged", "wait_for",
]
