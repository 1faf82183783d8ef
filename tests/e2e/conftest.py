"""The deployed product for end-to-end tests: the sandbox served over real HTTP, credentials
blocks, deployments created from prefect.yaml with ``prefect deploy --all`` (as the README
says), and a process worker, on the session's Prefect test server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import TENANT  # tests/e2e is on sys.path (pytest's prepend import mode)
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from ml_connector.credentials import IntacctCredentials, SpsCredentials
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.tenant import load_tenant
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_intacct_master
from ml_connector.sandbox.serve import serve_in_thread
from ml_connector.sandbox.sps import SpsEmulator

ROOT = Path(__file__).parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _env(api_url: str, tmp: Path) -> dict:
    return {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "ML_CONNECTOR_WORKDIR": str(ROOT),
        "ML_CONNECTOR_LEDGER_URL": f"sqlite:///{tmp / 'ledger.db'}",
        "ML_CONNECTOR_TENANTS": str(tmp / "tenants"),
        "ML_CONNECTOR_TASK_RETRY_DELAYS": "0,0,0",
    }


@pytest.fixture(scope="session")
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
        yield {"intacct": intacct, "sps": sps, "mapping": mapping,
               "ledger": Ledger(env["ML_CONNECTOR_LEDGER_URL"], tenant=TENANT), "seeded": Seeded()}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        for s in served:
            s.stop()
