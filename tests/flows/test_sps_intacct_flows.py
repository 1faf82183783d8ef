"""SPS <-> Intacct flows end to end on the session's Prefect server, emulators in-process."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from prefect.client.orchestration import get_client

from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import POSTED, POSTING, QUARANTINED
from ml_connector.ledger.store import Ledger
from ml_connector.sandbox.base import FaultPlan

IN, OUT = "sps-intacct", "intacct-sps"


def run(flow_fn, **params):
    state = flow_fn(tenant="demo", return_state=True, **params)
    return state, str(state.state_details.flow_run_id)


def assert_no_duplicates(world):
    dupes = {k: c for k, c in world.bill_counts().items() if c > 1}
    assert not dupes, f"duplicate bills in Intacct: {dupes}"


def test_inbound_posts_every_document_once_and_reports_it(world):
    world.add_documents(60)
    state, run_id = run(sps_to_intacct, page_size=25)
    assert state.is_completed()
    counts = state.result()
    assert counts["posted"] == len(world.seeded.expected_bills) == len(world.intacct.bills())
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert_no_duplicates(world)
    assert world.sps.files("out/") == {}  # every file consumed once it was durable
    assert world.ledger.get_cursor(IN) is None  # listing finished: the next poll starts at the top
    # the artifact's numbers are the ledger's numbers for this run
    assert world.ledger.run_counts(IN, run_id) == {k: counts[k] for k in world.ledger.run_counts(IN, run_id)}
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:  # by run: the session's server holds more than one page
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(run_id)])))
    assert any(a.key == f"demo-{IN}-run-report" and str(a.flow_run_id) == run_id for a in artifacts)
    # a second poll finds nothing new and posts nothing
    again, _ = run(sps_to_intacct)
    assert again.result()["posted"] == 0 and len(world.intacct.bills()) == counts["posted"]


def test_bad_input_is_quarantined_with_reasons_while_the_rest_posts(world):
    world.add_documents(120, bad_fraction=0.2)
    assert world.seeded.bad_inbound, "the generator should have mixed in bad files"
    state, run_id = run(sps_to_intacct)
    assert set(world.bill_counts()) == world.seeded.expected_bills
    rows = world.ledger.documents(IN, status=QUARANTINED)
    # a person must act on the quarantined input: the run says so, with the count
    assert state.is_failed() and state.message.startswith(f"{len(rows)} of "), state
    assert "documents quarantined: " in state.message
    assert len(rows) == len(world.seeded.bad_inbound)
    for row in rows:
        assert row.last_error and "\n" not in row.last_error
        assert row.raw_payload  # kept, so it can be fixed and replayed
    labels = set(world.seeded.bad_inbound.values())
    reasons = " ".join(r.last_error for r in rows)
    if "bad:unknown-partner" in labels:
        assert "unknown trading partner" in reasons
    if "bad:entity-bomb" in labels:
        assert "DOCTYPE" in reasons or "entit" in reasons.lower()
    assert state.result(raise_on_failure=False)["quarantined"] == len(rows)


def test_lost_responses_after_committed_writes_create_no_duplicates(world_factory):
    world = world_factory(intacct_faults=FaultPlan(rate_lost_write=0.5, seed=11))
    world.add_documents(80)
    for _ in range(4):  # reruns, as an operator would, until drained
        state, _ = run(sps_to_intacct, page_size=20)
        if state.is_completed() and not world.ledger.status_counts(IN).get("received"):
            break
    assert world.intacct.faults.counts.get("lost_write", 0) > 0
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert_no_duplicates(world)


def test_crash_between_intent_and_outcome_is_resolved_without_a_duplicate(world, monkeypatch):
    world.add_documents(30)
    original = Ledger.record_outcomes
    calls = {"n": 0}

    def crash_once(self, integration, outcomes, run_id):
        calls["n"] += 1
        if calls["n"] == 1 and integration == IN:
            raise SystemExit("worker killed after the post, before the outcome")  # not retried
        return original(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", crash_once)
    with pytest.raises(SystemExit, match="worker killed"):
        sps_to_intacct(tenant="demo")
    stuck = world.ledger.status_counts(IN).get(POSTING, 0)
    assert stuck > 0 and len(world.intacct.bills()) >= stuck  # posted in Intacct, unknown to us
    state, _ = run(sps_to_intacct)
    assert state.is_completed()
    assert state.result()["recovered_posted"] == stuck
    assert world.ledger.status_counts(IN).get(POSTING, 0) == 0
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert_no_duplicates(world)


def test_session_and_token_expiry_mid_run_are_renewed(world_factory):
    world = world_factory(session_ttl=0.2, token_ttl=0.2)
    world.add_documents(80)
    state, _ = run(sps_to_intacct, page_size=10)
    assert state.is_completed()
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert world.sps.tokens_issued > 1


def test_heavy_faults_still_reconcile(world_factory):
    world = world_factory(intacct_faults=FaultPlan.profile("heavy", seed=5), sps_faults=FaultPlan.profile("heavy", seed=6))
    world.add_documents(100, bad_fraction=0.05)
    for _ in range(8):  # the schedule's next polls: files deferred by faults are read then
        state, _ = run(sps_to_intacct, page_size=20)
        pending = world.ledger.status_counts(IN)
        drained = not world.sps.files("out/")
        if state.is_completed() and drained and not pending.get("received") and not pending.get(POSTING):
            break
    assert not world.sps.files("out/")
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert_no_duplicates(world)


def test_backfill_window_leaves_the_live_cursor_and_other_dates_alone(world):
    world.add_documents(40)
    world.ledger.set_cursor(IN, "live-cursor-value")
    state, _ = run(sps_to_intacct, since=date(2024, 1, 1), until=date(2024, 2, 1))
    assert state.is_completed()
    assert world.ledger.get_cursor(IN) == "live-cursor-value"
    posted = world.ledger.documents(IN, status=POSTED)
    assert posted and all("2024-01-01" <= r.doc_date < "2024-02-01" for r in posted)
    assert world.sps.files("out/")  # documents outside the window are still waiting in SPS


def test_dry_run_writes_nothing(world):
    world.add_documents(20)
    state, _ = run(sps_to_intacct, dry_run=True)
    assert state.result()["would_post"] == len(world.seeded.expected_bills)
    assert world.intacct.bills() == [] and world.ledger.status_counts(IN) == {}
    assert len(world.sps.files("out/")) == 20


def test_outbound_sends_invoices_and_acks_once(world):
    world.add_documents(40)
    run(sps_to_intacct)
    world.add_ar_invoices(60)
    state, _ = run(intacct_to_sps)
    inbox = world.sps.inbox()
    invoices = {p for p in inbox if p.startswith("in/IN_")}
    acks = {p for p in inbox if p.startswith("in/PR_")}
    assert len(invoices) == len(world.seeded.expected_invoices)
    assert len(acks) == len(world.seeded.orders)
    quarantined = world.ledger.documents(OUT, status=QUARANTINED)
    assert {r.natural_key for r in quarantined} == world.seeded.unmapped_invoices
    # the unmapped invoices need a person: the run is Failed and says how many
    assert state.is_failed() and state.message.startswith(f"{len(quarantined)} of "), state
    uploads = len(world.sps.history())
    again, _ = run(intacct_to_sps)  # the overlap window re-reads invoices: all duplicates
    assert again.result()["posted"] == 0 and again.result()["duplicate"] > 0
    assert len(world.sps.history()) == uploads


def test_every_posted_order_is_acknowledged_even_beyond_one_batch(world, monkeypatch):
    from ml_connector.tasks import outbound

    monkeypatch.setattr(outbound, "ACK_BATCH", 3)  # many rounds in one run
    world.add_documents(60)
    run(sps_to_intacct)
    state, _ = run(intacct_to_sps)
    assert state.is_completed()
    acks = {p for p in world.sps.inbox() if p.startswith("in/PR_")}
    assert len(world.seeded.orders) > 3 and len(acks) == len(world.seeded.orders)
