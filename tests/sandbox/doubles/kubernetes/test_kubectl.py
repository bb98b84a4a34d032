"""Real kubectl (1.32, /usr/bin/kubectl) against the double, through a responder's commands.

Each command runs the kubectl binary with a kubeconfig pointing at the double (and its own
HOME, so discovery and OpenAPI caches start empty) and the test asserts what a cluster would
print. The double's clock is manual: commands that wait on the cluster (`rollout status`,
`delete`, `rollout undo` then `status`) run while the test moves the clock one second at a
time until kubectl exits, so nothing waits for a duration and a slow machine changes nothing.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
from pathlib import Path

import pytest

from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    ManualClock,
    add_logs,
    deployment_pods,
    mark_crash_loop,
    orion_prod,
    write_kubeconfig,
)
from bot.sandbox.doubles.kubernetes.story import living_orion_prod

KUBECTL = Path("/usr/bin/kubectl")
pytestmark = [
    pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is not installed at /usr/bin/kubectl"),
    pytest.mark.process,
    pytest.mark.slow,
]
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  labels: {app: worker}
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - name: worker
        image: registry.orion.example.com/worker:1.0.0
"""


class Kubectl:
    def __init__(self, home: Path, kubeconfig: Path, clock: ManualClock) -> None:
        self.env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
        self.env.pop("KUBECTL_KUBERC", None)
        self.clock = clock

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(KUBECTL), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __call__(self, *args: str, ok: bool = True) -> str:
        done = subprocess.run(
            [str(KUBECTL), *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if ok:
            assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def waiting(self, *args: str) -> str:
        """Run a command that waits on the cluster, moving its clock until kubectl exits."""
        process = self.popen(*args)
        for _ in range(600):
            try:
                out, _ = process.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                self.clock.advance(1)
        else:
            process.kill()
            raise AssertionError(f"kubectl {' '.join(args)} did not finish")
        assert process.returncode == 0, out
        return out


class Lines:
    """A running kubectl's output, line by line, for `-f` and `-w` (read on a thread)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, pattern: str) -> str:
        while True:
            line = self.lines.get(timeout=20)
            if re.search(pattern, line):
                return line

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.thread.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def orion(manual_cluster: Cluster, manual_double: KubernetesDouble) -> Cluster:
    orion_prod(manual_cluster)
    crashing = deployment_pods(manual_cluster, ORION_PROD, "orders-api")[0]["metadata"]["name"]
    mark_crash_loop(manual_cluster, ORION_PROD, crashing, restarts=7)
    return manual_cluster


@pytest.fixture
def kubectl(tmp_path: Path, manual_double: KubernetesDouble, clock: ManualClock) -> Kubectl:
    config = write_kubeconfig(tmp_path / "kubeconfig", manual_double.base_url, namespace=ORION_PROD)
    (tmp_path / "home").mkdir()
    return Kubectl(tmp_path / "home", config, clock)


def table(output: str) -> list[list[str]]:
    """kubectl's columns, split on the runs of spaces between them."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def row(output: str, prefix: str) -> list[str]:
    return next(r for r in table(output) if r[0].startswith(prefix))


def pod(cluster: Cluster, app: str, index: int = 0) -> str:
    return str(deployment_pods(cluster, ORION_PROD, app)[index]["metadata"]["name"])


def test_reads_a_responder_makes(kubectl: Kubectl, orion: Cluster):
    pods = kubectl("get", "pods")
    assert table(pods)[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    oom = row(pods, "task-service-")
    assert oom[1:3] == ["1/1", "Running"] and re.fullmatch(r"\d \(\S+ ago\)", oom[3])
    assert row(pods, "orders-api-")[1:4] == ["0/1", "CrashLoopBackOff", "7 (30s ago)"]
    assert row(pods, "payments-")[1:3] == ["0/1", "Running"]
    wide = kubectl("get", "po", "-o", "wide")
    assert table(wide)[0][5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert row(wide, "checkout-")[6:] == ["node-1", "<none>", "<none>"]

    assert row(kubectl("get", "deploy"), "checkout") == ["checkout", "3/3", "3", "3", "12d"]
    assert row(kubectl("get", "deployments"), "payments")[1] == "0/2"
    replica_sets = table(kubectl("get", "rs", "-l", "app=checkout"))
    assert replica_sets[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert sorted(r[1:] for r in replica_sets[1:]) == [
        ["0", "0", "0", "12d"],
        ["0", "0", "0", "5d"],
        ["3", "3", "3", "22m"],
    ]
    service = row(kubectl("get", "svc"), "checkout")
    assert [service[1], *service[3:]] == ["ClusterIP", "<none>", "80/TCP", "12d"]
    assert row(kubectl("get", "hpa"), "search") == [
        "search",
        "Deployment/search",
        "cpu: 96%/70%",
        "3",
        "10",
        "10",
        "3d",
    ]
    assert row(kubectl("get", "ns"), ORION_PROD) == [ORION_PROD, "Active", "30d"]
    assert row(kubectl("get", "no"), "node-1") == ["node-1", "Ready", "<none>", "30d", "v1.37.0"]
    assert row(kubectl("get", "ep"), "payments")[1] == "<none>"
    events = kubectl("get", "ev", "--field-selector", "type=Warning")
    assert table(events)[0][:5] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert row(events, "0s")[2] in {"BackOff", "Unhealthy"}

    everything = kubectl("get", "all")
    for kind in (
        "pod/",
        "service/",
        "deployment.apps/",
        "replicaset.apps/",
        "horizontalpodautoscaler.autoscaling/",
    ):
        assert f"\n{kind}" in f"\n{everything}", kind
    chunked = kubectl("get", "pods", "--chunk-size=4", "-o", "name")
    assert chunked.split() == kubectl("get", "pods", "-o", "name").split()
    assert len(chunked.split()) == 20

    refused = kubectl("get", "pods", "--field-selector", "spec.foo=bar", ok=False)
    assert "field label not supported: spec.foo" in refused


def test_describe_and_logs(kubectl: Kubectl, orion: Cluster):
    oom = pod(orion, "task-service")
    described = kubectl("describe", "pod", oom)
    assert re.search(
        r"Last State:\s+Terminated\n\s+Reason:\s+OOMKilled\n\s+Exit Code:\s+137", described
    )
    assert re.search(r"Restart Count:\s+\d", described) and "memory:  512Mi" in described
    assert re.search(r"Warning\s+BackOff\s+.*Back-off restarting failed container", described)
    deployment = kubectl("describe", "deploy", "checkout")
    replicas = r"Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable"
    assert re.search(replicas, deployment)
    assert re.search(r"NewReplicaSet:\s+checkout-\w+ \(3/3 replicas created\)", deployment)

    checkout = pod(orion, "checkout")
    assert kubectl("logs", checkout, "--tail=1").startswith('ERROR "POST /api/checkout" 500')
    assert "heap usage 97% of limit" in kubectl("logs", oom, "--previous")
    assert kubectl("logs", "deploy/checkout", "--tail=1").startswith("ERROR")  # one of its pods

    follower = Lines(kubectl.popen("logs", "-f", checkout, "--tail=1"))
    try:
        follower.until(r'"POST /api/checkout"')
        add_logs(orion, ORION_PROD, checkout, ["INFO payment provider v1 API restored"])
        follower.until("payment provider v1 API restored")
    finally:
        follower.stop()


def test_watch_pods_while_one_is_deleted(kubectl: Kubectl, orion: Cluster, clock: ManualClock):
    victim = pod(orion, "checkout")
    watcher = Lines(kubectl.popen("get", "pods", "-l", "app=checkout", "-w"))
    try:
        watcher.until(r"^NAME\s+READY\s+STATUS")
        watcher.until(rf"^{victim}\s+1/1\s+Running")
        deleted = kubectl.waiting("delete", "pod", victim)
        assert deleted.strip() == f'pod "{victim}" deleted'
        watcher.until(rf"^{victim}\s+\S+\s+Terminating")
        watcher.until(r"^checkout-\S+\s+0/1\s+Running\s+0\s+\d+s")  # the replacement
    finally:
        watcher.stop()
    remaining = kubectl("get", "pods", "-l", "app=checkout", "-o", "name")
    assert f"pod/{victim}" not in remaining.split() and len(remaining.split()) == 3
    one = Lines(kubectl.popen("get", "deploy", "orders-api", "-w"))
    try:
        one.until(r"^orders-api\s+1/2")
        kubectl("scale", "deploy/orders-api", "--replicas=3")
        one.until(r"^orders-api\s+1/3")
    finally:
        one.stop()


def test_rollout_history_undo_status(kubectl: Kubectl, orion: Cluster):
    history = table(kubectl("rollout", "history", "deploy/checkout"))
    assert history[1:] == [
        ["REVISION", "CHANGE-CAUSE"],
        ["1", "deploy 2.2.1"],
        ["2", "deploy 2.3.0: new tax service client"],
        ["3", "deploy 2.4.0: payment provider v2 API"],
    ]
    assert kubectl("rollout", "undo", "deploy/checkout").strip() == (
        "deployment.apps/checkout rolled back"
    )
    status = kubectl.waiting("rollout", "status", "deploy/checkout")
    # (whether it printed "Waiting for deployment ..." first depends on how soon kubectl looked)
    assert status.strip().endswith('deployment "checkout" successfully rolled out')
    history = table(kubectl("rollout", "history", "deploy/checkout"))
    assert [r[0] for r in history[2:]] == ["1", "3", "4"]  # revision 2 became 4, as on a cluster
    assert history[-1] == ["4", "deploy 2.3.0: new tax service client"]
    image = kubectl(
        "get", "deploy", "checkout", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image == "registry.orion.example.com/checkout:2.3.0"


def test_remediations_fireline_offers(kubectl: Kubectl, orion: Cluster):
    assert (
        kubectl("scale", "deploy/search", "--replicas=4").strip() == "deployment.apps/search scaled"
    )
    kubectl.waiting("rollout", "status", "deploy/search")
    assert row(kubectl("get", "deploy", "search"), "search")[1] == "4/4"
    assert kubectl("rollout", "restart", "deploy/orders-api").strip() == (
        "deployment.apps/orders-api restarted"
    )
    kubectl.waiting("rollout", "status", "deploy/orders-api", "--timeout=5m")
    assert [r[0] for r in table(kubectl("rollout", "history", "deploy/orders-api"))[2:]] == [
        "1",
        "2",
    ]
    victim = pod(orion, "payments")
    assert kubectl.waiting("delete", "pod", victim).strip() == f'pod "{victim}" deleted'
    labelled = kubectl("label", "pod", pod(orion, "checkout"), "incident=INC-7")
    assert labelled.strip() == f"pod/{pod(orion, 'checkout')} labeled"
    assert len(table(kubectl("get", "pods", "-l", "incident=INC-7"))) == 2
    assert kubectl("cordon", "node-2").strip() == "node/node-2 cordoned"
    assert row(kubectl("get", "nodes"), "node-2")[1] == "Ready,SchedulingDisabled"
    assert kubectl("uncordon", "node-2").strip() == "node/node-2 uncordoned"


def test_apply_explain_auth_and_create(kubectl: Kubectl, orion: Cluster, tmp_path: Path):
    manifest = tmp_path / "worker.yaml"
    manifest.write_text(MANIFEST.replace("REPLICAS", "2"))
    assert kubectl("apply", "-f", str(manifest)).strip() == "deployment.apps/worker created"
    assert kubectl("apply", "-f", str(manifest)).strip() == "deployment.apps/worker unchanged"
    manifest.write_text(MANIFEST.replace("REPLICAS", "3"))
    assert kubectl("apply", "-f", str(manifest)).strip() == "deployment.apps/worker configured"
    kubectl.waiting("rollout", "status", "deploy/worker")
    assert row(kubectl("get", "deploy", "worker"), "worker")[1] == "3/3"
    manifest.write_text(MANIFEST.replace("REPLICAS", "3").replace("  replicas:", "  replica:"))
    typo = kubectl("apply", "-f", str(manifest), ok=False)
    assert 'strict decoding error: unknown field "spec.replica"' in typo

    explained = kubectl("explain", "deployment.spec.strategy")
    assert (
        "KIND:       Deployment" in explained
        and "FIELD: strategy <DeploymentStrategy>" in explained
    )
    assert "rollingUpdate\t<RollingUpdateDeployment>" in explained
    v2 = kubectl("explain", "pods.spec.containers", "--output=plaintext-openapiv2")
    assert "RESOURCE: containers <[]Object>" in v2

    assert kubectl("auth", "can-i", "delete", "pods").strip() == "yes"
    assert kubectl("auth", "can-i", "patch", "deployments", "-n", ORION_PROD).strip() == "yes"
    created = kubectl(
        "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"
    )
    assert created.strip() == "deployment.apps/web created"
    kubectl.waiting("rollout", "status", "deploy/web")
    web = row(kubectl("get", "deploy", "web", "-o", "wide"), "web")
    assert web[1:4] == ["2/2", "2", "2"] and re.fullmatch(r"\d+s", web[4])  # the clock moved
    assert web[5:] == ["nginx", "nginx:1.27", "app=web"]
    assert kubectl("create", "namespace", "drills").strip() == "namespace/drills created"
    assert row(kubectl("get", "ns"), "drills") == ["drills", "Active", "0s"]
    service = kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
    assert service.strip() == "service/web created"
    assert row(kubectl("get", "svc", "web"), "web")[4] == "80/TCP"


@pytest.fixture
def living(manual_cluster: Cluster, manual_double: KubernetesDouble) -> Cluster:
    return living_orion_prod(manual_cluster)


def test_the_living_cluster_through_kubectl(kubectl: Kubectl, living: Cluster, clock: ManualClock):
    """What a responder sees of the sandbox's cluster: pods over the nodes, `top` adding up,
    logs that keep coming (`-f`), a rollback (`rollout undo`) whose pods log no errors and whose
    revision keeps its change-cause."""
    wide = table(kubectl("get", "pods", "-o", "wide"))
    assert len({r[6] for r in wide[1:]}) == 3  # NODE: node-1, node-2, node-3
    oom = row(kubectl("get", "pods"), "task-service-")
    assert re.fullmatch(r"\d \(\S+ ago\)", oom[3])  # restarts after OOM kills
    by_node = {r[0]: r for r in table(kubectl("top", "nodes"))[1:]}
    pods_cpu: dict[str, int] = {}
    top_pods = {r[0]: r for r in table(kubectl("top", "pods"))[1:]}
    for r in wide[1:]:
        if r[0] in top_pods:
            pods_cpu[r[6]] = pods_cpu.get(r[6], 0) + int(top_pods[r[0]][1].rstrip("m"))
    for node, cpu in pods_cpu.items():
        assert abs(int(by_node[node][1].rstrip("m")) - cpu) <= len(wide)  # rounding per pod

    checkout = pod(living, "checkout")
    follower = Lines(kubectl.popen("logs", "-f", checkout, "--tail=1"))
    try:
        follower.until(r'"POST /api/checkout"')  # the last line written so far
        clock.advance(30)  # the container writes a line every 5 s: new ones are followed
        follower.until(r'"POST /api/checkout"')
    finally:
        follower.stop()

    assert kubectl("rollout", "undo", "deployment/checkout").strip() == (
        "deployment.apps/checkout rolled back"
    )
    kubectl.waiting("rollout", "status", "deployment/checkout", "--timeout=5m")
    clock.advance(60)
    logs = kubectl("logs", "deploy/checkout", "--since=1m")
    assert 'INFO "POST /api/checkout" 200' in logs and " 500 " not in logs
    history = kubectl("rollout", "history", "deployment/checkout")
    assert re.search(r"^4\s+deploy 2\.3\.0: new tax service client$", history, re.M), history
