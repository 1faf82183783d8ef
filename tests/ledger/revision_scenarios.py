"""The revision rules as scenarios over any ledger: test_revisions.py runs them on SQLite,
test_revisions_postgres.py on PostgreSQL. Each takes a ledger opened for tenant "t"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ml_connector.ledger.revisions import APPLIED, CANCEL, CREATE, NEEDS_PERSON, PENDING, REPLACE, REPLACED, UPDATE
from ml_connector.ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, SKIPPED, document_events
from ml_connector.ledger.store import Incoming, Ledger, Outcome, idempotency_key

SI = "sps-intacct"


def po(payload: bytes, effect: str = CREATE, version=None, key: str = "PO-1", reason: str | None = None) -> Incoming:
    return Incoming("order", "WALMART", key, f"out/{key}.xml", payload, target_ref=f"WALMART:{key}",
                    effect=effect, source_version=version, reason=reason)


def post(ledger: Ledger, ids, run: str = "run", target: str | None = "BILL-1") -> list:
    claimed = ledger.claim(SI, list(ids), run)
    ledger.record_outcomes(SI, [Outcome(c.id, POSTED, target_id=target) for c in claimed], run)
    return claimed


def the_doc(ledger: Ledger, key: str = "PO-1"):
    [row] = [r for r in ledger.documents(SI) if r.natural_key == key]
    return row


def events_of(ledger: Ledger, doc_id: int) -> list:
    with ledger.engine.connect() as conn:
        return conn.execute(select(document_events).where(document_events.c.document_id == doc_id)
                            .order_by(document_events.c.id)).all()


def same_content_is_a_duplicate(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    post(ledger, [doc_id])
    again = ledger.ingest(SI, [po(b"<v1/>", UPDATE, 2)], "r2")
    assert (again.new_ids, again.duplicates, again.revised) == ([], 1, 0)
    assert the_doc(ledger).status == POSTED and the_doc(ledger).revision == 1
    assert ledger.run_counts(SI, "r2")["duplicate"] == 1


def change_after_post_is_a_new_revision_to_apply(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<qty>1</qty>", CREATE, 1)], "r1").new_ids
    [first] = post(ledger, [doc_id], target="BILL-9")
    changed = ledger.ingest(SI, [po(b"<qty>999</qty>", UPDATE, 2)], "r2")
    assert changed.new_ids == [doc_id] and changed.revised == 1 and changed.duplicates == 0
    assert ledger.pending_ids(SI) == [doc_id]
    [stale] = ledger.latest_revisions(SI, stale_only=True)
    assert (stale.id, stale.revision, stale.applied_revision, stale.stale) == (doc_id, 2, 1, True)
    [second] = ledger.claim(SI, [doc_id], "r2")
    assert (second.revision, second.effect, second.target_id) == (2, UPDATE, "BILL-9")
    assert second.raw_payload == b"<qty>999</qty>"
    assert second.idempotency_key != first.idempotency_key
    assert second.idempotency_key == idempotency_key("t", SI, "order", "WALMART", "PO-1", 0, 2)
    ledger.record_outcomes(SI, [Outcome(doc_id, POSTED, target_id=None)], "r2")  # an update keeps the id
    row = the_doc(ledger)
    assert (row.status, row.revision, row.applied_revision, row.target_id) == (POSTED, 2, 2, "BILL-9")
    assert ledger.latest_revisions(SI, stale_only=True) == []
    history = [(r.revision, r.effect, r.state, r.raw_payload) for r in ledger.revisions_of(doc_id)]
    assert history == [(1, CREATE, APPLIED, b"<qty>1</qty>"), (2, UPDATE, APPLIED, b"<qty>999</qty>")]
    assert [e.revision for e in events_of(ledger, doc_id) if e.event == POSTED] == [1, 2]


def change_before_post_replaces_the_pending_payload(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<qty>1</qty>", CREATE, 1)], "r1").new_ids
    key = the_doc(ledger).idempotency_key
    changed = ledger.ingest(SI, [po(b"<qty>2</qty>", UPDATE, 2)], "r2")
    assert changed.new_ids == [doc_id] and changed.revised == 1
    [claimed] = ledger.claim(SI, ledger.pending_ids(SI), "r3")
    # one write, of the latest content; nothing is in the target yet, so it is a create
    assert (claimed.revision, claimed.effect, claimed.raw_payload) == (1, CREATE, b"<qty>2</qty>")
    assert claimed.idempotency_key == key  # never written: the one key stays
    assert [(r.revision, r.state) for r in ledger.revisions_of(doc_id)] == [(1, REPLACED), (1, PENDING)]


def change_of_a_failed_document_starts_a_new_generation(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    [c] = ledger.claim(SI, [doc_id], "r1")
    ledger.record_outcomes(SI, [Outcome(doc_id, FAILED, error_class="rejected", error="bad vendor")], "r1")
    assert ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r2").new_ids == [doc_id]
    [again] = ledger.claim(SI, [doc_id], "r2")
    assert again.idempotency_key != c.idempotency_key and again.raw_payload == b"<v2/>"


def an_older_source_version_is_superseded(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<seq10/>", UPDATE, 10)], "r1").new_ids
    post(ledger, [doc_id])
    late = ledger.ingest(SI, [po(b"<seq9/>", UPDATE, 9)], "r2")  # 9 < 10 as numbers, not as text
    assert (late.new_ids, late.superseded, late.revised) == ([], 1, 0)
    row = the_doc(ledger)
    assert (row.status, row.revision, row.raw_payload) == (POSTED, 1, b"<seq10/>")
    assert [r.state for r in ledger.revisions_of(doc_id)] == [APPLIED, "superseded"]
    assert ledger.ingest(SI, [po(b"<seq9/>", UPDATE, 9)], "r3").duplicates == 1  # seen: old news twice
    # timestamps compare as text (ISO 8601 sorts in time order)
    [ts_id] = ledger.ingest(SI, [po(b"<t2/>", UPDATE, "2026-03-01T10:00:00Z", key="PO-T")], "r4").new_ids
    post(ledger, [ts_id])
    assert ledger.ingest(SI, [po(b"<t1/>", UPDATE, "2026-02-28T23:00:00Z", key="PO-T")], "r5").superseded == 1
    assert ledger.ingest(SI, [po(b"<t3/>", UPDATE, "2026-03-02T08:00:00Z", key="PO-T")], "r6").new_ids == [ts_id]


def a_cancel_first_is_skipped_and_its_original_superseded(ledger: Ledger) -> None:
    first = ledger.ingest(SI, [po(b"<cancel/>", CANCEL, 2)], "r1")
    assert first.new_ids == [] and ledger.pending_ids(SI) == []
    row = the_doc(ledger)
    assert row.status == SKIPPED and "cancelled before any original" in row.last_error
    assert ledger.run_counts(SI, "r1")["skipped"] == 1
    original = ledger.ingest(SI, [po(b"<original/>", CREATE, 1)], "r2")
    assert (original.new_ids, original.superseded) == ([], 1)
    unversioned = ledger.ingest(SI, [po(b"<original again/>", CREATE)], "r3")  # no order given: still late
    assert unversioned.superseded == 1 and ledger.pending_ids(SI) == []
    assert the_doc(ledger).status == SKIPPED and the_doc(ledger).effect == CANCEL


def a_cancel_after_post_is_a_revision_and_before_post_nothing(ledger: Ledger) -> None:
    [posted_id, _pending_id] = ledger.ingest(SI, [po(b"<a/>", key="PO-A"), po(b"<b/>", key="PO-B")], "r1").new_ids
    post(ledger, [posted_id], target="BILL-A")
    cancels = ledger.ingest(SI, [po(b"<a cancel/>", CANCEL, key="PO-A"), po(b"<b cancel/>", CANCEL, key="PO-B")], "r2")
    assert cancels.new_ids == [posted_id] and cancels.revised == 2
    [c] = ledger.claim(SI, ledger.pending_ids(SI), "r3")
    assert (c.id, c.effect, c.target_id, c.revision) == (posted_id, CANCEL, "BILL-A", 2)
    b = the_doc(ledger, "PO-B")
    assert b.status == SKIPPED and "cancelled before it was posted" in b.last_error


def a_revision_for_a_person_waits_quarantined(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    post(ledger, [doc_id])
    with pytest.raises(ValueError, match="one-line reason"):
        ledger.ingest(SI, [po(b"<v2/>", NEEDS_PERSON)], "r2")
    with pytest.raises(ValueError, match="unknown revision effect"):
        ledger.ingest(SI, [po(b"<v2/>", "delete")], "r2")
    result = ledger.ingest(SI, [po(b"<v2/>", NEEDS_PERSON, reason="bill BILL-1 is paid")], "r2")
    assert result.new_ids == [] and result.quarantined == 1
    row = the_doc(ledger)
    assert (row.status, row.error_class, row.last_error, row.revision) == (QUARANTINED, NEEDS_PERSON,
                                                                         "bill BILL-1 is paid", 2)
    assert [s.stale for s in ledger.latest_revisions(SI)] == [True]
    assert ledger.run_failures(SI, "r2")[0]["reason"] == "bill BILL-1 is paid"
    # the person acted (the bill is reversed): a replay writes the revision as an update
    assert ledger.requeue(SI, [doc_id], "replay-1") == 1
    [c] = ledger.claim(SI, [doc_id], "replay-1")
    assert (c.revision, c.effect, c.target_id, c.raw_payload) == (2, UPDATE, "BILL-1", b"<v2/>")
    ledger.record_outcomes(SI, [Outcome(doc_id, POSTED, target_id=None)], "replay-1")
    assert [s.stale for s in ledger.latest_revisions(SI)] == [False]
    assert [r.state for r in ledger.revisions_of(doc_id)] == [APPLIED, APPLIED]


def an_unreadable_revision_is_held_back_and_a_fixed_one_applied(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    post(ledger, [doc_id], target="BILL-1")
    broken = Incoming("order", "WALMART", "PO-1", "out/PO-1.xml", b"<v2", status=QUARANTINED,
                      error_class="parse", last_error="not XML", effect=UPDATE)
    result = ledger.ingest(SI, [broken], "r2")
    assert result.new_ids == [] and result.quarantined == 1
    assert ledger.run_failures(SI, "r2")[0]["reason"] == "not XML"
    fixed = ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r3")
    assert fixed.new_ids == [doc_id]
    [c] = ledger.claim(SI, [doc_id], "r3")
    assert (c.revision, c.effect, c.raw_payload, c.target_id) == (2, UPDATE, b"<v2/>", "BILL-1")


def a_revision_during_a_write_waits_for_its_outcome(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>", CREATE, 1)], "r1").new_ids
    [c1] = ledger.claim(SI, [doc_id], "r1")
    during = ledger.ingest(SI, [po(b"<v3/>", REPLACE, 3), po(b"<v2/>", UPDATE, 2)], "r2")
    assert during.waiting == 2 and during.new_ids == []
    # the run dies: recovery sees the write in flight, revision 1 with its key, untouched
    [stale] = ledger.stale_intents(SI, older_than=timedelta(0), claimer="r3")
    assert (stale.revision, stale.idempotency_key, stale.raw_payload) == (1, c1.idempotency_key, b"<v1/>")
    reopened = ledger.record_outcomes(SI, [Outcome(doc_id, POSTED, target_id="BILL-1")], "r3")
    assert reopened == [doc_id]
    [c2] = ledger.claim(SI, [doc_id], "r4")
    # the newest by source version wins, applied over what is now in the target
    assert (c2.revision, c2.effect, c2.raw_payload, c2.target_id) == (2, REPLACE, b"<v3/>", "BILL-1")
    states = sorted((r.raw_payload, r.state) for r in ledger.revisions_of(doc_id))
    assert states == [(b"<v1/>", APPLIED), (b"<v2/>", REPLACED), (b"<v3/>", PENDING)]


def a_revision_waiting_on_a_failed_write_replaces_it(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    [c1] = ledger.claim(SI, [doc_id], "r1")
    assert ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r2").waiting == 1
    reopened = ledger.record_outcomes(SI, [Outcome(doc_id, FAILED, error_class="rejected", error="no")], "r1")
    assert reopened == [doc_id] and ledger.pending_ids(SI) == [doc_id]
    [c2] = ledger.claim(SI, [doc_id], "r3")
    # nothing reached the target: still revision 1, a create, under a new generation
    assert (c2.revision, c2.effect, c2.raw_payload) == (1, CREATE, b"<v2/>")
    assert c2.idempotency_key != c1.idempotency_key


def stale_intents_recover_per_revision(ledger: Ledger) -> None:
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    post(ledger, [doc_id])
    ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r2")
    [c2] = ledger.claim(SI, [doc_id], "r2")  # the write of revision 2 is in flight when the run dies
    [again] = ledger.stale_intents(SI, run_ids=["r2"], claimer="r3")
    assert (again.revision, again.idempotency_key, again.effect) == (2, c2.idempotency_key, UPDATE)
    assert ledger.stale_intents(SI, run_ids=["r2"], claimer="r4") == []


def a_resend_is_a_new_generation_audited_and_refused_unless_posted(ledger: Ledger) -> None:
    ids = ledger.ingest(SI, [po(b"<a/>", key="PO-A"), po(b"<b/>", key="PO-B")], "r1").new_ids
    [a] = post(ledger, ids[:1], target="INV-A")
    ledger.claim(SI, ids[1:], "r1")
    ledger.record_outcomes(SI, [Outcome(ids[1], FAILED, error_class="rejected", error="no")], "r1")
    with pytest.raises(ValueError) as refused:
        ledger.resend(ids, who="ops@acme", why="partner lost it")
    assert "\n" not in str(refused.value) and "failed, not posted" in str(refused.value)
    assert the_doc(ledger, "PO-A").status == POSTED  # all or nothing
    with pytest.raises(ValueError, match="why"):
        ledger.resend(ids[:1], who="ops@acme", why="")
    assert ledger.resend(ids[:1], who="ops@acme", why="997 rejected the 810", run_id="resend-1") == 1
    [again] = ledger.claim(SI, ledger.pending_ids(SI), "r2")
    assert again.id == ids[0] and again.resend and again.effect == CREATE and again.target_id == "INV-A"
    assert again.idempotency_key != a.idempotency_key and again.revision == 1
    [audit] = [e for e in events_of(ledger, ids[0]) if e.event == "resend"]
    assert (audit.reason, audit.flow_run_id) == ("ops@acme: 997 rejected the 810", "resend-1")
    ledger.record_outcomes(SI, [Outcome(again.id, POSTED, target_id="INV-A")], "r2")
    row = the_doc(ledger, "PO-A")
    assert row.status == POSTED and not row.resending
    assert ledger.resend(ids[:1], who="ops", why="again") == 1  # and again: one more generation
    [third] = ledger.claim(SI, [ids[0]], "r3")
    assert third.idempotency_key not in (a.idempotency_key, again.idempotency_key)


def two_contents_in_one_page_are_two_revisions(ledger: Ledger) -> None:
    page = ledger.ingest(SI, [po(b"<v1/>", CREATE, 1), po(b"<v2/>", UPDATE, 2), po(b"<v1/>", CREATE, 1)], "r1")
    assert len(page.new_ids) == 1 and page.revised == 1 and page.duplicates == 1
    [c] = ledger.claim(SI, page.new_ids, "r1")
    assert (c.raw_payload, c.effect, c.revision) == (b"<v2/>", CREATE, 1)


def callers_without_revisions_behave_as_before(ledger: Ledger) -> None:
    legacy = Incoming("order", "WALMART", "PO-1", "x", b"<v1/>")
    [doc_id] = ledger.ingest(SI, [legacy], "r1").new_ids
    [c] = post(ledger, [doc_id])
    assert (c.revision, c.effect, c.target_id, c.resend) == (1, CREATE, None, False)
    changed = ledger.ingest(SI, [Incoming("order", "WALMART", "PO-1", "x", b"<v2/>")], "r2")
    assert changed.duplicates == 1 and changed.revised == 0 and the_doc(ledger).raw_payload == b"<v1/>"
    assert ledger.revisions_of(doc_id) == []  # no history written for them
    # the same document read later with revision information takes its history from the row
    assert ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r3").revised == 1
    assert [(r.revision, r.state) for r in ledger.revisions_of(doc_id)] == [(1, APPLIED), (2, PENDING)]


def revisions_stay_within_their_tenant(ledger: Ledger) -> None:
    beta = ledger.for_tenant("beta")
    [a_id] = ledger.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    [b_id] = beta.ingest(SI, [po(b"<v1/>")], "r1").new_ids
    post(ledger, [a_id])
    post(beta, [b_id])
    assert beta.ingest(SI, [po(b"<v2/>", UPDATE)], "r2").revised == 1
    assert ledger.pending_ids(SI) == [] and the_doc(ledger).revision == 1
    assert [s.stale for s in ledger.latest_revisions(SI)] == [False]
    assert [s.stale for s in beta.latest_revisions(SI)] == [True]
    assert beta.revisions_of(a_id) == [] and len(ledger.revisions_of(a_id)) == 1
    with pytest.raises(ValueError, match="no document"):
        beta.resend([a_id], who="ops", why="not mine")
    b_key = beta.claim(SI, [b_id], "r3")[0].idempotency_key
    assert ledger.ingest(SI, [po(b"<v2/>", UPDATE)], "r2").revised == 1
    assert ledger.claim(SI, [a_id], "r3")[0].idempotency_key != b_key
    # an outcome written by the other tenant's handle for these ids changes nothing
    ledger.record_outcomes(SI, [Outcome(b_id, POSTED, target_id="x")], "r3")
    assert beta.documents(SI)[0].status == POSTING


SCENARIOS = [
    same_content_is_a_duplicate, change_after_post_is_a_new_revision_to_apply,
    change_before_post_replaces_the_pending_payload, change_of_a_failed_document_starts_a_new_generation,
    an_older_source_version_is_superseded, a_cancel_first_is_skipped_and_its_original_superseded,
    a_cancel_after_post_is_a_revision_and_before_post_nothing, a_revision_for_a_person_waits_quarantined,
    an_unreadable_revision_is_held_back_and_a_fixed_one_applied,
    a_revision_during_a_write_waits_for_its_outcome, a_revision_waiting_on_a_failed_write_replaces_it,
    stale_intents_recover_per_revision,
    a_resend_is_a_new_generation_audited_and_refused_unless_posted, two_contents_in_one_page_are_two_revisions,
    callers_without_revisions_behave_as_before, revisions_stay_within_their_tenant,
]
