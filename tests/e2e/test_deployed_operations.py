"""The product as users run it: deployments from prefect.yaml, a process worker, the sandbox
over real HTTP (see conftest.py). One run fails on purpose and is rerun (nothing posted
twice); a backfill leaves the live cursor alone; a replay posts what a fix repaired; every
run's artifact matches the ledger."""

from __future__ import annotations

import time
from datetime import date

from e2e_support import IN, artifact_rows, bill_counts, run, wait_final
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.states import AwaitingRetry

from ml_connector.sandbox.seed import seed_sps_documents


def tenant_run(deployment_run_id):
    """The tenant's own run inside a deployment run (flows/tenants.py: its latest subflow run)."""
    flt = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[deployment_run_id]))
    with get_client(sync_client=True) as client:
        return max(client.read_flow_runs(flow_run_filter=flt), key=lambda r: r.created)


def test_deployed_runs_rerun_backfill_and_replay(deployed):
    intacct, sps, ledger, seeded = deployed["intacct"], deployed["sps"], deployed["ledger"], deployed["seeded"]
    seed_sps_documents(sps, deployed["mapping"], 60, 21, 0.05, seeded)

    # 1. a run fails on purpose: Intacct refuses the login (the customer must act)
    intacct.user_password, good = "changed-by-someone", intacct.user_password
    failed = run("sps-to-intacct/sps-to-intacct")
    assert failed.state.is_failed()
    assert intacct.bills() == [] and ledger.status_counts(IN).get("received", 0) > 0  # kept, not lost

    # 2. fixed, and the failed run is rerun from the API as the UI's Retry does
    intacct.user_password = good
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(failed.id, AwaitingRetry(), force=True)
    rerun = wait_final(failed.id)
    assert rerun.state.is_completed(), rerun.state
    assert set(bill_counts(intacct)) == seeded.expected_bills
    assert all(c == 1 for c in bill_counts(intacct).values())
    report = artifact_rows(tenant_run(failed.id).id)
    assert report["posted"] == ledger.run_counts(IN, str(tenant_run(failed.id).id))["posted"] == len(seeded.expected_bills)

    # 3. backfill of a window: reprocesses, dedups, leaves the live cursor where it was
    ledger.set_cursor(IN, "the-live-cursor")
    seed_sps_documents(sps, deployed["mapping"], 20, 22, 0.0, seeded)
    backfill = run("sps-to-intacct/sps-to-intacct", since=str(date(2024, 1, 1)), until=str(date(2024, 3, 1)))
    assert backfill.state.is_completed()
    assert ledger.get_cursor(IN) == "the-live-cursor"

    # 4. a mapping-side failure, then a replay after the fix
    ledger.set_cursor(IN, None)
    intacct.store.gl_accounts.discard("5020")
    broken = run("sps-to-intacct/sps-to-intacct")
    failures = ledger.documents(IN, status="failed")
    assert failures and broken.state.is_failed() and "documents failed" in broken.state.message
    intacct.add_gl_account("5020")
    replayed = run("replay/replay", integration=IN, flow_run_id=str(tenant_run(broken.id).id), status=None)
    assert replayed.state.is_completed()
    assert not ledger.documents(IN, status="failed")
    assert set(bill_counts(intacct)) == seeded.expected_bills
    assert all(c == 1 for c in bill_counts(intacct).values())
    assert artifact_rows(replayed.id)["replayed"] == len(failures)


def test_a_run_with_failed_documents_is_red_and_retrying_it_posts_exactly_them(deployed):
    """Issue 15: the deployment run that leaves documents failed ends Failed with the counts in
    its message; after the fix, Retry on that same run (through the API, as the UI does) posts
    exactly the documents it left failed, once, and the run ends Completed."""
    intacct, sps, ledger, seeded = deployed["intacct"], deployed["sps"], deployed["ledger"], deployed["seeded"]
    ledger.set_cursor(IN, None)
    posted_before = {d.id for d in ledger.documents(IN, status="posted")}
    intacct.store.gl_accounts.discard("5020")
    seed_sps_documents(sps, deployed["mapping"], 40, 23, 0.0, seeded)

    red = run("sps-to-intacct/sps-to-intacct")
    failed = {d.id for d in ledger.documents(IN, status="failed")}
    assert failed and red.state.is_failed(), red.state
    assert "tenants failed" in red.state.message and "documents failed" in red.state.message
    first = tenant_run(red.id)
    assert first.state.is_failed() and first.state.message.startswith(f"{len(failed)} of "), first.state.message
    assert "invalid GL account '5020'" in first.state.message

    intacct.add_gl_account("5020")  # the fix
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(red.id, AwaitingRetry(), force=True)
    retried = wait_final(red.id)
    assert retried.state.is_completed(), retried.state
    second = tenant_run(red.id)
    assert second.id != first.id and second.state.is_completed(), second.state
    assert ledger.run_counts(IN, str(second.id))["posted"] == len(failed)
    assert artifact_rows(second.id)["retried"] == len(failed)
    assert not ledger.documents(IN, status="failed")
    assert {d.id for d in ledger.documents(IN, status="posted")} == posted_before | failed | {
        d.id for d in ledger.documents(IN, run_id=str(first.id), status="posted")}
    assert set(bill_counts(intacct)) == seeded.expected_bills
    assert all(c == 1 for c in bill_counts(intacct).values())


def test_webhook_event_starts_the_outbound_deployment(deployed):
    """The deployment trigger declared in prefect.yaml: the event the webhook service emits
    after storing a notification creates a run of qbo-to-sps for that tenant."""
    from ml_connector.webhooks.app import emit_notification_event

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("qbo-to-sps/qbo-to-sps")
        before = {r.id for r in client.read_flow_runs()}
    emit_notification_event("trigger-check")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = [r for r in client.read_flow_runs() if r.id not in before and r.deployment_id == deployment.id]
        if runs:
            assert runs[0].parameters.get("tenant") == "trigger-check"
            return
        time.sleep(1)
    raise AssertionError("the webhook event did not start a run of qbo-to-sps")
