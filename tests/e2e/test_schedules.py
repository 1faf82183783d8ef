"""Prefect's scheduler on the pinned dependencies (issue 14): after the README's deploy steps
every deployment with a schedule in prefect.yaml gets Scheduled runs, and a run the scheduler
created is picked up by a process worker and completes.

This module starts its own ``prefect server start`` (not the session's): the scheduler service
loops every few seconds instead of every minute, and the test owns every schedule on it. A
broken scheduler shows only in the server's log and in runs that never appear (SQLAlchemy 2.1
made every ``schedule_deployments()`` fail with ``InvalidRequestError``), so both are checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

from ml_connector.credentials import IntacctCredentials, SpsCredentials
from ml_connector.mappings.tenant import load_tenant
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import seed_intacct_master
from ml_connector.sandbox.serve import free_port, serve_in_thread
from ml_connector.sandbox.sps import SpsEmulator
from tests.waiting import wait_for

ROOT = Path(__file__).parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
TENANT = "schedules"
RUN_DEPLOYMENT = "sps-to-intacct"  # completes against the sandbox; nothing to do on an empty account
SCHEDULER_LOOP_SECONDS = "5"  # the scheduler service's default loop is 60 s


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _server_healthy(proc: subprocess.Popen, url: str, log: Path) -> bool:
    if proc.poll() is not None:
        pytest.fail(f"prefect server exited: {log.read_text(errors='replace')[-3000:]}")
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``prefect server start`` on a free port with its own home, a 5 s scheduler loop and its
    log in a file; the test process's Prefect client points at it for the module."""
    tmp = tmp_path_factory.mktemp("schedules")
    home = tmp / "prefect-home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": SCHEDULER_LOOP_SECONDS,
        "ML_CONNECTOR_WORKDIR": str(ROOT),
    }
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _server_healthy(proc, url, log), "the schedules test's prefect server", timeout=180)
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_HOME: str(home)}):
            yield {"url": url, "env": env, "log": log, "tmp": tmp}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def deployed(server):
    """The README's deploy section, as written, against this module's server."""
    env = server["env"]
    pool = subprocess.run([PREFECT, "work-pool", "create", "ml-connector", "--type", "process"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert pool.returncode == 0, pool.stdout[-2000:] + pool.stderr[-2000:]
    done = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with get_client(sync_client=True) as client:
        return {d.name: d for d in client.read_deployments()}


def _scheduled_in_prefect_yaml() -> set[str]:
    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    return {d["name"] for d in declared if d.get("schedules")}


def _has_scheduled_run(client, deployment_id) -> bool:
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        limit=1)
    return bool(runs)


def _scheduler_errors(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if "Traceback" in line or ("ERROR" in line and "schedul" in line)]


def test_every_scheduled_deployment_gets_scheduled_runs(server, deployed):
    expected = _scheduled_in_prefect_yaml()
    assert expected, "prefect.yaml declares scheduled deployments"
    assert expected <= set(deployed), f"not deployed: {sorted(expected - set(deployed))}"

    missing: list[str] = sorted(expected)

    def all_scheduled() -> bool:
        with get_client(sync_client=True) as client:
            missing[:] = [n for n in sorted(expected) if not _has_scheduled_run(client, deployed[n].id)]
        return not missing

    try:
        wait_for(all_scheduled, "a Scheduled run of every scheduled deployment", timeout=90, interval=2)
    except pytest.fail.Exception:
        tail = server["log"].read_text(errors="replace")[-3000:]
        pytest.fail(f"no Scheduled run after 90 s for {missing}; server log tail:\n{tail}")
    assert not missing
    assert _scheduler_errors(server["log"]) == []


@pytest.fixture(scope="module")
def sandbox_tenant(server):
    """The minimum for an sps-to-intacct run of TENANT: Intacct and an empty SPS account
    served over HTTP, their credentials blocks, the tenant file in its own tenants folder and a
    ledger of its own. Returns the environment a worker needs."""
    tmp = server["tmp"]
    (tmp / "tenants").mkdir()
    shutil.copy(ROOT / "tenants" / "demo.yaml", tmp / "tenants" / f"{TENANT}.yaml")
    intacct, sps = IntacctEmulator(), SpsEmulator()
    served = [serve_in_thread(intacct), serve_in_thread(sps)]
    try:
        seed_intacct_master(intacct, load_tenant(tmp / "tenants" / f"{TENANT}.yaml"))
        IntacctCredentials(**intacct.credentials()).save(f"{TENANT}-intacct", overwrite=True)
        creds = sps.credentials()
        SpsCredentials(**{k: creds[k] for k in ("client_id", "client_secret", "base_url", "token_url", "audience")}
                       ).save(f"{TENANT}-sps", overwrite=True)
        yield {
            **server["env"],
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "INFO",  # the worker log is what a failure message shows
            "ML_CONNECTOR_LEDGER_URL": f"sqlite:///{tmp / 'ledger.db'}",
            "ML_CONNECTOR_TENANTS": str(tmp / "tenants"),
            "ML_CONNECTOR_TASK_RETRY_DELAYS": "0,0,0",
        }
    finally:
        for s in served:
            s.stop()


def test_a_scheduled_run_completes_on_a_process_worker(server, deployed, sandbox_tenant):
    target = deployed[RUN_DEPLOYMENT]
    with get_client(sync_client=True) as client:
        # Only the target is scheduled from here on (pausing deletes the others' scheduled
        # runs), and its prefect.yaml schedule (tenant demo, every 10 minutes) gives way to a
        # 5-second one for the sandbox tenant; deleting a schedule deletes its pending runs.
        for deployment in deployed.values():
            if deployment.id != target.id:
                client.pause_deployment(deployment.id)
        for schedule in client.read_deployment(target.id).schedules:
            client.delete_deployment_schedule(target.id, schedule.id)
        client.create_deployment_schedules(target.id, [DeploymentScheduleCreate(
            schedule=IntervalSchedule(interval=timedelta(seconds=5)), active=True, parameters={"tenant": TENANT})])

    log = open(server["tmp"] / "worker.log", "wb")
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "ml-connector"], env=sandbox_tenant, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    seen: list = []

    def runs_seen() -> str:
        worker_log = (server["tmp"] / "worker.log").read_text(errors="replace")[-3000:]
        rows = "\n".join(f"  {r.name} auto_scheduled={r.auto_scheduled} tenant={r.parameters.get('tenant')} "
                         f"{r.state.type.value if r.state else None} {r.state.name if r.state else ''}" for r in seen)
        return f"runs of {RUN_DEPLOYMENT}:\n{rows}\nworker log tail:\n{worker_log}"

    def completed_scheduled_run():
        with get_client(sync_client=True) as client:
            # past Scheduled: the scheduler keeps up to 100 future runs of a 5 s schedule
            seen[:] = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[target.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=50)
        ours = [r for r in seen if r.auto_scheduled and r.parameters.get("tenant") == TENANT]
        for r in ours:
            if r.state and r.state.is_final() and not r.state.is_completed():
                pytest.fail(f"scheduled run {r.name} ended {r.state.type.value}: {r.state.message}\n{runs_seen()}")
        return next((r for r in ours if r.state and r.state.is_completed()), None)

    try:
        try:
            run = wait_for(completed_scheduled_run, f"a scheduled {RUN_DEPLOYMENT} run to complete on the worker",
                           timeout=120, interval=1)
        except pytest.fail.Exception as e:
            if "gave up waiting" not in str(e):
                raise
            pytest.fail(f"no scheduled {RUN_DEPLOYMENT} run completed in 120 s; {runs_seen()}")
        assert run.auto_scheduled and run.deployment_id == target.id
        assert run.parameters["tenant"] == TENANT
        assert run.state.is_completed()
        assert _scheduler_errors(server["log"]) == []
    finally:
        with get_client(sync_client=True) as client:
            client.pause_deployment(target.id)  # no new runs while the worker stops
        _stop(worker)
        log.close()
