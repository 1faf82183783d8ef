"""Helpers of the end-to-end tests: start deployment runs, wait for them, read their reports."""

from __future__ import annotations

import time
import uuid

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

TENANT = "e2e"
IN = "sps-intacct"


def run(name: str, **parameters):
    return run_deployment(name, parameters={"tenant": TENANT, **parameters}, timeout=240, poll_interval=1)


def wait_final(flow_run_id, timeout: float = 240):
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout}s")


def artifact_rows(flow_run_id) -> dict:
    """The counts of a run's summary artifact (tasks/run_state.py), by what they count."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    by_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(str(flow_run_id))]))
    with get_client(sync_client=True) as client:  # by run: the server holds more than one page
        artifacts = [a for a in client.read_artifacts(artifact_filter=by_run)
                     if (a.key or "").endswith("-run-summary")]
    assert artifacts, "every run publishes its report"
    artifacts.sort(key=lambda a: a.created)  # a rerun keeps its run id: the newest report wins
    counts = {}
    for line in str(artifacts[-1].data).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[1].isdigit():
            counts[cells[0].replace(" ", "_")] = int(cells[1])
    return counts


def bill_counts(intacct) -> dict:
    counts: dict = {}
    for bill in intacct.bills():
        counts[(bill["VENDORID"], bill["RECORDID"])] = counts.get((bill["VENDORID"], bill["RECORDID"]), 0) + 1
    return counts


