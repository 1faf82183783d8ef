"""``ml-connector demo``: the whole product against the embedded sandbox.

Emulators are served over real HTTP on loopback, credentials are saved as Prefect blocks, and
every integration runs as a Prefect flow against a local Prefect server (the one in
``PREFECT_API_URL`` when set, otherwise a temporary one for the demo's duration). A run that
fails is rerun, as an operator would from the UI, until the sandbox is drained; then the
targets are reconciled against what was seeded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

# Prefect reads its home and our task retry delays at import: set them before importing either.
_DEMO_RETRY_DELAYS = "0.5,1,2"


def prepare_environment(workdir: Path) -> None:
    os.environ["ML_CONNECTOR_HOME"] = str(workdir)
    os.environ["ML_CONNECTOR_LEDGER_URL"] = f"sqlite:///{workdir / 'ledger.db'}"
    os.environ.setdefault("ML_CONNECTOR_TASK_RETRY_DELAYS", _DEMO_RETRY_DELAYS)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if "PREFECT_API_URL" not in os.environ:
        os.environ["PREFECT_HOME"] = str(workdir / "prefect")


@contextlib.contextmanager
def prefect_api():
    """Use the configured Prefect server, or start a local one for the demo's duration."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        server.stop()


def save_blocks(tenant: str, intacct_creds: dict, sps_creds: dict) -> None:
    """Save sandbox credentials as a tenant's Intacct and SPS blocks (benchmarks, scripts)."""
    from .credentials import save_block

    save_block(tenant, "intacct", intacct_creds)
    save_block(tenant, "sps", sps_creds)


def run_until_drained(flow_fn, tenant: str, integration: str, attempts: int = 6,
                      source_drained=lambda: True) -> list[dict]:
    """Run a flow; rerun it after a failure (as an operator would) or while the source still
    holds documents (as the schedule would), until a run completes with nothing left pending.
    Returns one record per run: its id, final state and counts."""
    from .tasks.resources import tenant as tenant_resources

    ledger = tenant_resources(tenant).ledger
    runs = []
    for _ in range(attempts):
        state = flow_fn(tenant=tenant, return_state=True)
        run_id = str(state.state_details.flow_run_id)
        runs.append({"run_id": run_id, "state": state.type.value, "counts": ledger.run_counts(integration, run_id)})
        pending = ledger.status_counts(integration)
        if state.is_completed() and not pending.get("received") and not pending.get("posting") and source_drained():
            break
        time.sleep(1)
    return runs


def run_demo(documents: int = 200, faults: str = "none", seed: int = 7, workdir: str | None = None) -> dict:
    """Run every integration on the sandbox and return the report (see ``report.py``)."""
    work = Path(workdir or tempfile.mkdtemp(prefix="ml-connector-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    prepare_environment(work)
    from .demo_world import DemoWorld

    from .demo_parts import all_parts
    from .demo_parts.commerce_intacct_o2c import CommerceIntacctO2cPart

    parts = all_parts()
    if not any(isinstance(p, CommerceIntacctO2cPart) for p in parts):  # Adobe Commerce order to cash
        parts.append(CommerceIntacctO2cPart())
    from .demo_parts.commerce_intacct_ap import CommerceIntacctApPart

    if not any(isinstance(p, CommerceIntacctApPart) for p in parts):  # Adobe Commerce payables, after o2c:
        parts.append(CommerceIntacctApPart())  # it seeds items with stock that purchase orders name too
    started = time.monotonic()
    with prefect_api() as api_url, DemoWorld(documents=documents, faults=faults, seed=seed, parts=parts) as world:
        world.save_blocks()
        runs = {spec.integration: run_until_drained(spec.flow, world.tenant, spec.integration,
                                                    source_drained=spec.source_drained)
                for _, spec in world.run_specs()}
        report = world.report(runs)
    report.update(prefect_api=api_url, workdir=str(work), seconds=round(time.monotonic() - started, 1),
                  documents=documents, faults=faults)
    return report
