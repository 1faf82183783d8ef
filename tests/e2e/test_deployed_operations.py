"""The product as users run it: deployments from prefect.yaml, a process worker, the sandbox
over real HTTP. One run fails on purpose and is rerun (nothing posted twice); a backfill
leaves the live cursor alone; a replay posts what a fix repaired; every run's artifact
matches the ledger.

Uses the session's Prefect test server (a real server over HTTP), so the worker and
``prefect deploy`` talk to the same API as the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL
from prefect.states import AwaitingRetry

from ml_connector.credentials import IntacctCredentials, SpsCredentials
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.tenant import load_tenant
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_intacct_master, seed_sps_documents
from ml_connector.sandbox.serve import serve_in_thread
from ml_connector.sandbox.sps import SpsEmulator

ROOT = Path(__file__).parents[2]
TENANT = "e2e"
IN = "sps-intacct"
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _env(api_url: str, tmp: Path) -> dict:
    return {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "ML_CONNECTOR_WORKDIR": str(ROOT),
        "ML_CONNECTOR_LEDGER_URL": f"sqlite:///{tmp / 'ledger.db'}",
        "ML_CONNECTOR_TENANTS": str(tmp / "tenants"),
        "ML_CONNECTOR_TASK_RETRY_DELAYS": "0,0,0",
    }


@pytest.fixture(scope="module")
def deployed(prefect_server, tmp_path_factory):
    """Sandbox served over HTTP, blocks saved, deployments created, a worker running."""
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "tenants").mkdir()
    shutil.copy(ROOT / "tenants" / "demo.yaml", tmp / "tenants" / f"{TENANT}.yaml")
    api_url = PREFECT_API_URL.value()
    env = _env(api_url, tmp)
    intacct, sps = IntacctEmulator(), SpsEmulator()
    served = [serve_in_thread(intacct), serve_in_thread(sps)]
    mapping = load_tenant(tmp / "tenants" / f"{TENANT}.yaml")
    seed_intacct_master(intacct, mapping)
    IntacctCredentials(**intacct.credentials()).save(f"{TENANT}-intacct", overwrite=True)
    creds = sps.credentials()
    SpsCredentials(**{k: creds[k] for k in ("client_id", "client_secret", "base_url", "token_url", "audience")}).save(
        f"{TENANT}-sps", overwrite=True)
    # the README's deploy section, as written: work pool, deploy --all, worker
    subprocess.run([PREFECT, "work-pool", "create", "ml-connector", "--type", "process"], env=env, cwd=ROOT,
                   capture_output=True, timeout=120)
    done = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            client.pause_deployment(deployment.id)  # schedules off: this test decides when runs happen
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "ml-connector"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield {"intacct": intacct, "sps": sps, "mapping": mapping, "ledger": Ledger(env["ML_CONNECTOR_LEDGER_URL"]),
               "seeded": Seeded()}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        for s in served:
            s.stop()


def _run(name: str, **parameters):
    return run_deployment(name, parameters={"tenant": TENANT, **parameters}, timeout=240, poll_interval=1)


def _wait_final(flow_run_id, timeout: float = 240):
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout}s")


def _artifact_rows(flow_run_id) -> dict:
    with get_client(sync_client=True) as client:
        artifacts = [a for a in client.read_artifacts() if str(a.flow_run_id) == str(flow_run_id)]
    assert artifacts, "every run publishes its report"
    artifacts.sort(key=lambda a: a.created)  # a rerun keeps its run id: the newest report wins
    import json

    data = artifacts[-1].data
    rows = json.loads(data) if isinstance(data, str) else data
    return {r["metric"]: r["documents"] for r in rows}


def _bill_counts(intacct) -> dict:
    counts: dict = {}
    for bill in intacct.bills():
        counts[(bill["VENDORID"], bill["RECORDID"])] = counts.get((bill["VENDORID"], bill["RECORDID"]), 0) + 1
    return counts


def test_deployed_runs_rerun_backfill_and_replay(deployed):
    intacct, sps, ledger, seeded = deployed["intacct"], deployed["sps"], deployed["ledger"], deployed["seeded"]
    seed_sps_documents(sps, deployed["mapping"], 60, 21, 0.05, seeded)

    # 1. a run fails on purpose: Intacct refuses the login (the customer must act)
    intacct.user_password, good = "changed-by-someone", intacct.user_password
    failed = _run("sps-to-intacct/sps-to-intacct")
    assert failed.state.is_failed()
    assert intacct.bills() == [] and ledger.status_counts(IN).get("received", 0) > 0  # kept, not lost

    # 2. fixed, and the failed run is rerun from the API as the UI's Retry does
    intacct.user_password = good
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(failed.id, AwaitingRetry(), force=True)
    rerun = _wait_final(failed.id)
    assert rerun.state.is_completed(), rerun.state
    assert set(_bill_counts(intacct)) == seeded.expected_bills
    assert all(c == 1 for c in _bill_counts(intacct).values())
    report = _artifact_rows(failed.id)
    assert report["posted"] == ledger.run_counts(IN, str(failed.id))["posted"] == len(seeded.expected_bills)

    # 3. backfill of a window: reprocesses, dedups, leaves the live cursor where it was
    ledger.set_cursor(IN, "the-live-cursor")
    seed_sps_documents(sps, deployed["mapping"], 20, 22, 0.0, seeded)
    backfill = _run("sps-to-intacct/sps-to-intacct", since=str(date(2024, 1, 1)), until=str(date(2024, 3, 1)))
    assert backfill.state.is_completed()
    assert ledger.get_cursor(IN) == "the-live-cursor"

    # 4. a mapping-side failure, then a replay after the fix
    ledger.set_cursor(IN, None)
    intacct.store.gl_accounts.discard("5020")
    broken = _run("sps-to-intacct/sps-to-intacct")
    assert broken.state.is_completed()
    failures = ledger.documents(IN, status="failed")
    assert failures
    intacct.add_gl_account("5020")
    replayed = _run("replay/replay", integration=IN, flow_run_id=str(broken.id), status=None)
    assert replayed.state.is_completed()
    assert not ledger.documents(IN, status="failed")
    assert set(_bill_counts(intacct)) == seeded.expected_bills
    assert all(c == 1 for c in _bill_counts(intacct).values())
    assert _artifact_rows(replayed.id)["replayed"] == len(failures)
