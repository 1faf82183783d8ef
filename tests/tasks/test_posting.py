"""post_documents on a real SQLite ledger with fake build/write: outcomes, failures, claims."""

from __future__ import annotations

import pytest

from ml_connector.connectors.errors import (
    AuthError,
    BadDocument,
    DuplicateWrite,
    RateLimited,
    RejectedError,
    TransientError,
)
from ml_connector.engine.posting import Prepared, WriteResult, post_documents
from ml_connector.ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, RECEIVED
from ml_connector.ledger.store import Claimed, Incoming, Ledger

SI = "sps-intacct"
RUN = "run-1"


@pytest.fixture()
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="t")
    yield led
    led.dispose()


def ingest(ledger: Ledger, n: int) -> list[int]:
    items = [Incoming("invoice", "SPSALLTESTID", f"IN-{k}", f"out/IN-{k}.xml", f"<Invoice>{k}</Invoice>".encode())
             for k in range(1, n + 1)]
    ids = ledger.ingest(SI, items, "ingest-run").new_ids
    assert len(ids) == n
    return ids


class Target:
    """A fake target: records every batch written; per-document results by natural key."""

    def __init__(self, results: dict[str, WriteResult] | None = None, raise_on_batch: dict[int, Exception] | None = None):
        self.results = results or {}
        self.raise_on_batch = raise_on_batch or {}
        self.batches: list[list[str]] = []

    def build(self, c: Claimed) -> str:
        return f"bill:{c.natural_key}:{c.idempotency_key}"

    def write(self, prepared: list[Prepared[str]]) -> list[WriteResult]:
        self.batches.append([p.claimed.natural_key for p in prepared])
        if len(self.batches) in self.raise_on_batch:
            raise self.raise_on_batch[len(self.batches)]
        return [self.results.get(p.claimed.natural_key, WriteResult(ok=True, target_id=f"R-{p.claimed.natural_key}"))
                for p in prepared]

    @property
    def written(self) -> list[str]:
        return [k for batch in self.batches for k in batch]


def rows(ledger: Ledger) -> dict[str, object]:
    return {r.natural_key: r for r in ledger.documents(SI)}


def post(ledger, ids, target, *, batch_size=2, run_id=RUN, build=None):
    return post_documents(ledger, SI, ids, run_id, build=build or target.build, write=target.write, batch_size=batch_size)


def test_all_ok_posts_every_document_with_its_target_id_and_event(ledger):
    ids = ingest(ledger, 5)
    target = Target()
    counts = post(ledger, ids, target, batch_size=2)
    assert counts == {POSTED: 5, FAILED: 0, QUARANTINED: 0, RECEIVED: 0}
    assert target.batches == [["IN-1", "IN-2"], ["IN-3", "IN-4"], ["IN-5"]]
    for key, row in rows(ledger).items():
        assert row.status == POSTED and row.target_id == f"R-{key}"
        assert row.flow_run_id == RUN and row.claim_token is None and row.posted_at is not None
        assert row.attempts == 1 and row.error_class is None and row.last_error is None
    assert ledger.run_counts(SI, RUN)["posted"] == 5
    assert ledger.pending_ids(SI) == []


def test_build_sees_the_claimed_document_with_its_idempotency_key(ledger):
    ids = ingest(ledger, 1)
    seen: list[Claimed] = []
    target = Target()

    def build(c: Claimed) -> str:
        seen.append(c)
        return target.build(c)

    post(ledger, ids, target, build=build)
    [c] = seen
    assert c.id == ids[0] and c.natural_key == "IN-1" and c.raw_payload == b"<Invoice>1</Invoice>"
    assert c.idempotency_key.startswith("mlc-") and c.attempts == 1


def test_rejected_result_fails_that_document_with_its_one_line_reason(ledger):
    ids = ingest(ledger, 3)
    reason = RejectedError("vendor V-SPSALL\n  is inactive", system="intacct", operation="create", code="BL01001973")
    target = Target({"IN-2": WriteResult(ok=False, error=reason)})
    counts = post(ledger, ids, target, batch_size=3)
    assert counts == {POSTED: 2, FAILED: 1, QUARANTINED: 0, RECEIVED: 0}
    doc = rows(ledger)["IN-2"]
    assert doc.status == FAILED and doc.error_class == "rejected" and doc.target_id is None
    assert doc.last_error == "vendor V-SPSALL is inactive [intacct/create] code=BL01001973"
    [failure] = ledger.run_failures(SI, RUN)
    assert failure["natural_key"] == "IN-2" and failure["event"] == FAILED
    assert failure["reason"] == doc.last_error
    assert {k: r.status for k, r in rows(ledger).items()} == {"IN-1": POSTED, "IN-2": FAILED, "IN-3": POSTED}


def test_failed_result_without_an_error_is_failed_with_a_reason(ledger):
    ids = ingest(ledger, 1)
    post(ledger, ids, Target({"IN-1": WriteResult(ok=False)}))
    doc = rows(ledger)["IN-1"]
    assert doc.status == FAILED and doc.error_class == "unknown" and doc.last_error == "no reason given"


def test_duplicate_write_result_is_recorded_as_failed_duplicate(ledger):
    # Connectors turn a duplicate into ok (tasks/intacct.py looks the record up); one that
    # reaches post_documents unresolved is not silently counted as posted.
    ids = ingest(ledger, 1)
    post(ledger, ids, Target({"IN-1": WriteResult(ok=False, error=DuplicateWrite("seen", system="intacct"))}))
    doc = rows(ledger)["IN-1"]
    assert doc.status == FAILED and doc.error_class == "duplicate"


@pytest.mark.parametrize("error, classification", [
    (TransientError("Intacct said try again later", system="intacct"), "transient"),
    (RateLimited("GW-0010 too many requests", system="intacct", retry_after=5), "rate_limited"),
])
def test_transient_result_puts_that_document_back_to_received_while_others_post(ledger, error, classification):
    ids = ingest(ledger, 4)
    target = Target({"IN-3": WriteResult(ok=False, error=error)})
    counts = post(ledger, ids, target, batch_size=2)
    assert counts == {POSTED: 3, FAILED: 0, QUARANTINED: 0, RECEIVED: 1}
    doc = rows(ledger)["IN-3"]
    assert doc.status == RECEIVED and doc.error_class == classification
    assert doc.last_error == str(error) and doc.claim_token is None
    assert ledger.pending_ids(SI) == [doc.id]
    assert ledger.run_failures(SI, RUN) == []  # not a failure: it will be retried


def test_document_back_to_received_posts_on_the_next_run_with_the_same_idempotency_key(ledger):
    ids = ingest(ledger, 2)
    first = Target({"IN-2": WriteResult(ok=False, error=TransientError("timeout"))})
    keys: list[str] = []

    def build(c: Claimed) -> str:
        keys.append(c.idempotency_key)
        return first.build(c)

    post(ledger, ids, first, build=build)
    second = Target()
    counts = post(ledger, ledger.pending_ids(SI), second, run_id="run-2", build=lambda c: keys.append(c.idempotency_key))
    assert counts[POSTED] == 1 and second.written == ["IN-2"]
    assert keys[1] == keys[2]  # IN-2's key, first and second time
    doc = rows(ledger)["IN-2"]
    assert doc.status == POSTED and doc.attempts == 2 and doc.flow_run_id == "run-2"


def test_build_raising_bad_document_quarantines_it_and_does_not_write_it(ledger):
    ids = ingest(ledger, 3)
    target = Target()

    def build(c: Claimed) -> str:
        if c.natural_key == "IN-2":
            raise BadDocument("line 1: unknown item 'SPSBuyerItem1'\n(no cross-reference)", system="mapping",
                              operation="sps-intacct", code="unknown-item")
        return target.build(c)

    counts = post(ledger, ids, target, batch_size=3, build=build)
    assert counts == {POSTED: 2, FAILED: 0, QUARANTINED: 1, RECEIVED: 0}
    assert target.written == ["IN-1", "IN-3"]
    doc = rows(ledger)["IN-2"]
    assert doc.status == QUARANTINED and doc.error_class == "bad_document"
    assert doc.last_error == ("line 1: unknown item 'SPSBuyerItem1' (no cross-reference) "
                              "[mapping/sps-intacct] code=unknown-item")
    assert ledger.run_counts(SI, RUN)["quarantined"] == 1


def test_batch_where_every_document_is_bad_writes_nothing(ledger):
    ids = ingest(ledger, 2)
    target = Target()

    def build(c: Claimed) -> str:
        raise BadDocument("unreadable")

    counts = post(ledger, ids, target, batch_size=2, build=build)
    assert counts[QUARANTINED] == 2 and target.batches == []


@pytest.mark.parametrize("error, classification", [
    (TransientError("HTTP 503 from intacct", system="intacct", status=503), "transient"),
    (AuthError("login failure: XL03000006 bad password", system="intacct", code="XL03000006"), "auth"),
], ids=["transient", "auth"])
def test_write_raising_for_the_second_batch_records_the_first_and_requeues_the_rest(ledger, error, classification):
    ids = ingest(ledger, 7)
    target = Target({"IN-2": WriteResult(ok=False, error=RejectedError("bad amount"))}, raise_on_batch={2: error})
    with pytest.raises(type(error)) as info:
        post(ledger, ids, target, batch_size=2)
    assert info.value is error
    assert target.batches == [["IN-1", "IN-2"], ["IN-3", "IN-4"]]  # nothing written after the failure
    docs = rows(ledger)
    # the first batch's outcomes are durable
    assert docs["IN-1"].status == POSTED and docs["IN-1"].target_id == "R-IN-1"
    assert docs["IN-2"].status == FAILED and docs["IN-2"].last_error == "bad amount"
    # the failed batch is back to received with the reason
    for key in ("IN-3", "IN-4"):
        assert docs[key].status == RECEIVED
        assert docs[key].error_class == classification and docs[key].last_error == str(error)
    # and so is every later claimed document, marked as never attempted
    for key in ("IN-5", "IN-6", "IN-7"):
        assert docs[key].status == RECEIVED and docs[key].error_class == "not_attempted"
    assert all(d.claim_token is None for d in docs.values())
    assert ledger.status_counts(SI) == {POSTED: 1, FAILED: 1, RECEIVED: 5}
    assert ledger.pending_ids(SI) == [docs[k].id for k in ("IN-3", "IN-4", "IN-5", "IN-6", "IN-7")]
    assert ledger.intent_runs(SI) == []  # nothing left between intent and outcome


def test_write_raising_keeps_quarantine_of_the_failed_batch(ledger):
    ids = ingest(ledger, 4)
    target = Target(raise_on_batch={2: TransientError("timeout")})

    def build(c: Claimed) -> str:
        if c.natural_key == "IN-3":
            raise BadDocument("malformed")
        return target.build(c)

    with pytest.raises(TransientError):
        post(ledger, ids, target, batch_size=2, build=build)
    docs = rows(ledger)
    assert docs["IN-3"].status == QUARANTINED and docs["IN-4"].status == RECEIVED


def test_write_raising_on_the_first_batch_leaves_nothing_posting(ledger):
    ids = ingest(ledger, 3)
    target = Target(raise_on_batch={1: TransientError("connection refused")})
    with pytest.raises(TransientError):
        post(ledger, ids, target, batch_size=2)
    assert ledger.status_counts(SI) == {RECEIVED: 3}
    assert sorted(ledger.pending_ids(SI)) == sorted(ids)


def test_write_failing_with_an_unexpected_error_leaves_intents_for_recovery(ledger):
    # Not an IntegrationError: nothing is known about what the target did, exactly as after a
    # crash, so the documents stay between intent and outcome for tasks/recovery.py.
    ids = ingest(ledger, 3)
    target = Target(raise_on_batch={1: KeyError("bug in a connector")})
    with pytest.raises(KeyError):
        post(ledger, ids, target, batch_size=2)
    assert ledger.status_counts(SI) == {POSTING: 3}
    assert ledger.intent_runs(SI) == [RUN]


def test_documents_claimed_by_another_run_are_not_posted(ledger):
    ids = ingest(ledger, 4)
    taken = [ids[1], ids[3]]
    assert [c.id for c in ledger.claim(SI, taken, "other-run")] == taken
    target = Target()
    counts = post(ledger, ids, target, batch_size=10)
    assert counts == {POSTED: 2, FAILED: 0, QUARANTINED: 0, RECEIVED: 0}
    assert target.written == ["IN-1", "IN-3"]
    docs = rows(ledger)
    for key in ("IN-2", "IN-4"):
        assert docs[key].status == POSTING and docs[key].flow_run_id == "other-run" and docs[key].target_id is None


def test_already_posted_or_failed_documents_are_not_posted_again(ledger):
    ids = ingest(ledger, 2)
    post(ledger, ids, Target({"IN-2": WriteResult(ok=False, error=RejectedError("no"))}))
    again = Target()
    counts = post(ledger, ids, again, run_id="run-2")
    assert again.batches == [] and counts == {POSTED: 0, FAILED: 0, QUARANTINED: 0, RECEIVED: 0}


def test_ids_of_another_integration_are_not_claimed(ledger):
    ids = ingest(ledger, 1)
    target = Target()
    counts = post_documents(ledger, "intacct-sps", ids, RUN, build=target.build, write=target.write, batch_size=5)
    assert target.batches == [] and counts[POSTED] == 0
    assert rows(ledger)["IN-1"].status == RECEIVED


def test_no_ids_writes_nothing(ledger):
    target = Target()
    assert post(ledger, [], target) == {POSTED: 0, FAILED: 0, QUARANTINED: 0, RECEIVED: 0}
    assert target.batches == []
