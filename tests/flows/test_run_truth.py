"""A run's state tells the truth, and retrying a failed run is the replay (issue 15).

A run that leaves documents failed ends Failed with the counts and first reasons in its message;
fixing the cause and retrying the SAME flow run (as the UI's Retry does: the run goes back to
AwaitingRetry and a runner executes it again) posts exactly the documents it left failed, once.
"""

from __future__ import annotations

import re

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.flow_engine import run_flow_sync
from prefect.states import AwaitingRetry

from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import FAILED, POSTED
from ml_connector.tasks.ops import artifact_key

IN = "sps-intacct"
OVERRIDE_ACCOUNT = "5020"  # tenants/demo.yaml books drills, saws and ladders here
MESSAGE = re.compile(r"^(\d+) of (\d+) documents failed: (.+ \(\d+\))(; .+ \(\d+\))*$")
COLUMNS = {"document", "type", "partner", "status", "reason", "what to do"}


def failing_run(world):
    """A run in which Intacct rejects every bill that books to one GL account."""
    world.intacct.store.gl_accounts.discard(OVERRIDE_ACCOUNT)
    world.add_documents(40)
    return sps_to_intacct(tenant="demo", return_state=True)


def retry_same_run(flow_run_id):
    """What the UI's Retry does, then what the runner does: the same flow run id goes back to
    AwaitingRetry and is executed again (its run count goes up)."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, AwaitingRetry(), force=True)
        flow_run = client.read_flow_run(flow_run_id)
    return run_flow_sync(sps_to_intacct, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")


def test_a_run_that_leaves_failed_documents_ends_failed_with_counts_and_first_reasons(world):
    state = failing_run(world)
    failed = world.ledger.documents(IN, status=FAILED)
    assert failed and state.is_failed(), state
    match = MESSAGE.match(state.message)
    assert match, state.message
    assert int(match.group(1)) == len(failed)
    assert OVERRIDE_ACCOUNT in state.message  # the reason names the account Intacct refused
    counts = state.result(raise_on_failure=False)
    assert counts[FAILED] == len(failed) and counts[POSTED] > 0


def test_a_run_that_posts_everything_is_completed(world):
    world.add_documents(20)
    state = sps_to_intacct(tenant="demo", return_state=True)
    assert state.is_completed(), state
    assert state.message.startswith("20 documents read, 20 posted") or "posted" in state.message
    assert state.result()[POSTED] > 0


def test_retrying_the_failed_run_posts_exactly_its_failed_documents_once(world):
    state = failing_run(world)
    run_id = state.state_details.flow_run_id
    failed = {d.id for d in world.ledger.documents(IN, status=FAILED)}
    posted_before = {d.id for d in world.ledger.documents(IN, status=POSTED)}
    assert failed and state.is_failed()
    world.intacct.add_gl_account(OVERRIDE_ACCOUNT)  # the fix

    again = retry_same_run(run_id)

    assert again.is_completed(), again
    assert again.state_details.flow_run_id == run_id
    counts = again.result()
    assert counts["retried"] == len(failed) and counts[POSTED] == len(failed)
    assert {d.id for d in world.ledger.documents(IN, status=POSTED)} == failed | posted_before
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert all(c == 1 for c in world.bill_counts().values())


def test_the_report_is_on_the_flow_run_with_one_shape_of_row(world):
    state = failing_run(world)
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    by_key = {a.key: a for a in artifacts}
    table = by_key[artifact_key("demo", f"{IN}-run-report")]
    summary = by_key[artifact_key("demo", f"{IN}-run-summary")]
    assert table.task_run_id is None and summary.task_run_id is None  # the flow run's, not a task's
    rows = table.data if isinstance(table.data, list) else __import__("json").loads(table.data)
    assert rows and all(set(r) == COLUMNS for r in rows)
    assert all(r["status"] == FAILED and "ml-connector replay --tenant demo" in r["what to do"]
               and "Retry this run" in r["what to do"] for r in rows)
    assert state.message in summary.data


def test_runs_are_named_by_integration_tenant_and_window(world):
    from datetime import date

    live = sps_to_intacct(tenant="demo", return_state=True)
    window = sps_to_intacct(tenant="demo", since=date(2024, 1, 1), until=date(2024, 2, 1), return_state=True)
    with get_client(sync_client=True) as client:
        names = [client.read_flow_run(s.state_details.flow_run_id).name for s in (live, window)]
    assert names == ["sps-intacct/demo/live", "sps-intacct/demo/2024-01-01..2024-02-01"]


def test_every_integration_flow_parameter_has_a_description_in_the_run_form():
    from prefect.utilities.callables import parameter_schema

    from ml_connector.flows.tenants import FANOUTS
    from ml_connector.integrations import load

    for fan in FANOUTS.values():
        tenant_flow = load(fan.flow_ref)
        properties = parameter_schema(tenant_flow.fn).properties
        missing = [name for name, spec in properties.items() if not spec.get("description")]
        assert not missing, f"{tenant_flow.name}: no description for {missing}"
