"""Measuring the tenant-scale benchmark: CPU of process trees, deployment runs through a process
worker, and load cycles.

CPU of a process tree is the process's own user+system time, plus that of its children that
ended and were waited for (``children_user``/``children_system``: a flow run's process, and the
process that one starts, once they exit), plus the same for every live descendant. The worker
host's CPU is the process worker's tree; the Prefect server's is the server's tree.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "ml-connector"


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants, living or waited for (module docstring)."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:  # ended between the listing and now: its parent has it
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass
class Meter:
    """CPU of the worker host and of the server over a window, and its wall time."""

    server_pid: int
    worker_pid: int | None = None
    marks: dict = field(default_factory=dict)

    def __enter__(self) -> Meter:
        self.marks = {"wall": time.monotonic(), "server": tree_cpu(self.server_pid),
                      "worker": tree_cpu(self.worker_pid) if self.worker_pid else 0.0,
                      "self": time.process_time()}
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.monotonic() - self.marks["wall"]
        self.server = tree_cpu(self.server_pid) - self.marks["server"]
        self.worker = (tree_cpu(self.worker_pid) - self.marks["worker"]) if self.worker_pid else 0.0
        self.own = time.process_time() - self.marks["self"]  # this process (in-process runs)


def idle_rate(server_pid: int, worker_pid: int | None, seconds: float) -> dict:
    """CPU seconds per second of the idle server and worker (their polling, services)."""
    with Meter(server_pid, worker_pid) as m:
        time.sleep(seconds)
    return {"server": m.server / m.wall, "worker": m.worker / m.wall}


def deploy_all(env: dict) -> None:
    """The README's deploy steps: work pool, ``prefect deploy --all``; then every deployment
    paused, so only the benchmark starts runs."""
    from prefect.client.orchestration import get_client

    subprocess.run([PREFECT, "work-pool", "create", POOL, "--type", "process"], env=env, cwd=ROOT,
                   capture_output=True, timeout=120)
    done = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"prefect deploy failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            client.pause_deployment(deployment.id)


def deploy_per_tenant(flow_ref: str, name: str, tenant: str, workdir: str) -> str:
    """The model this replaces, for comparison: a deployment that runs one tenant's flow."""
    from prefect.client.orchestration import get_client

    from ml_connector.integrations import load

    flow_name = load(flow_ref).name
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow_name)
        return str(client.create_deployment(
            flow_id=flow_id, name=name, entrypoint=flow_ref, work_pool_name=POOL,
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": workdir}}],
            parameters={"tenant": tenant}, job_variables={"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}},
            paused=True))


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL], env=env, cwd=ROOT,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def run_deployments(runs: list[tuple[str, dict]], timeout: float = 1800, poll: float = 2.0, sample=None) -> list:
    """Start ``(deployment name or id, parameters)`` runs at once; return them when all are final.
    ``sample()`` is called at every poll (to watch the flow run processes)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        ids = []
        for name, parameters in runs:
            deployment = client.read_deployment(uuid.UUID(name)) if _is_uuid(name) else \
                client.read_deployment_by_name(name)
            ids.append(client.create_flow_run_from_deployment(deployment.id, parameters=parameters).id)
        flt = FlowRunFilter(id=FlowRunFilterId(any_=ids))
        deadline = time.monotonic() + timeout
        while True:
            if sample is not None:
                sample()
            found = client.read_flow_runs(flow_run_filter=flt)
            if len(found) == len(ids) and all(r.state is not None and r.state.is_final() for r in found):
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"deployment runs not final after {timeout:.0f} s: "
                                   f"{[(r.name, r.state_name) for r in found]}")
            time.sleep(poll)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def run_span(runs: list) -> float:
    """Created (the run exists, waiting for the worker) to the last one's end, in seconds."""
    start = min(r.created for r in runs)
    end = max(r.end_time or r.created for r in runs)
    return (end - start).total_seconds()


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def env_for(api_url: str, home: Path, work: Path, tenants_dir: Path) -> dict:
    """The environment of the CLI, the worker and (inherited) every flow run process."""
    return {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_WORKER_QUERY_SECONDS": "2", "ML_CONNECTOR_WORKDIR": str(work),
            "ML_CONNECTOR_HOME": str(work), "ML_CONNECTOR_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
            "ML_CONNECTOR_TENANTS": str(tenants_dir), "ML_CONNECTOR_TASK_RETRY_DELAYS": "0,0,0"}


def tenant_table(flow_run_id) -> dict[str, int]:
    """A fan-out run's tenants by status (ran, idle, failed, not set up), from its table artifact."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_artifacts(artifact_filter=flt) if a.key and a.key.endswith("-tenants")]
    if not found:
        return {}
    data = max(found, key=lambda a: a.created).data
    rows = json.loads(data) if isinstance(data, str) else data
    tally: dict[str, int] = {}
    for row in rows:
        tally[row["status"]] = tally.get(row["status"], 0) + 1
    return tally


class Peak:
    """The largest flow run process under the worker: resident memory and threads."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid, self.rss_mb, self.threads = worker_pid, 0.0, 0

    def __call__(self) -> None:
        try:
            children = psutil.Process(self.worker_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                self.rss_mb = max(self.rss_mb, child.memory_info().rss / 2**20)
                self.threads = max(self.threads, child.num_threads())
            except psutil.NoSuchProcess:
                continue
