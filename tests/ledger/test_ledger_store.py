"""The ledger on a real SQLite file: dedup, claims, outcomes, intents, cursors, counts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ml_connector.ledger.schema import FAILED, POSTED, POSTING, QUARANTINED, RECEIVED
from ml_connector.ledger.store import Incoming, Ledger, Outcome, idempotency_key

SI = "sps-intacct"


@pytest.fixture()
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="t")
    yield led
    led.dispose()


def doc(n: int, status: str = RECEIVED, payload: bytes | None = None, partner: str = "P1") -> Incoming:
    return Incoming("invoice", partner, f"INV-{n}", f"out/IN{n}.xml", payload or f"<x>{n}</x>".encode(),
                    status=status, target_ref=f"V1:INV-{n}", last_error=None if status == RECEIVED else "bad")


def test_ingest_dedups_by_natural_key_and_counts_events(ledger):
    first = ledger.ingest(SI, [doc(1), doc(2), doc(3, QUARANTINED)], "run-1")
    assert len(first.new_ids) == 2 and first.quarantined == 1 and first.duplicates == 0
    again = ledger.ingest(SI, [doc(1), doc(2), doc(4)], "run-2")
    assert again.duplicates == 2 and len(again.new_ids) == 1
    assert ledger.run_counts(SI, "run-1") == {"read": 3, "posted": 0, "duplicate": 0, "failed": 0, "quarantined": 1,
                                             "skipped": 0}
    assert ledger.run_counts(SI, "run-2")["duplicate"] == 2
    assert ledger.run_counts(SI, "run-2")["read"] == 3


def test_same_key_twice_in_one_page_is_one_document(ledger):
    result = ledger.ingest(SI, [doc(1), doc(1)], "run-1")
    assert len(result.new_ids) == 1 and result.duplicates == 1


def test_claim_is_exclusive_and_outcomes_are_recorded(ledger):
    ids = ledger.ingest(SI, [doc(n) for n in range(5)], "run-1").new_ids
    claimed = ledger.claim(SI, ids, "run-1")
    assert [c.id for c in claimed] == ids
    assert ledger.claim(SI, ids, "run-2") == []  # already claimed: nobody else gets them
    ledger.record_outcomes(SI, [Outcome(ids[0], POSTED, target_id="101"),
                                Outcome(ids[1], FAILED, error_class="rejected", error="no")], "run-1")
    counts = ledger.status_counts(SI)
    assert counts == {POSTED: 1, FAILED: 1, POSTING: 3}
    assert ledger.run_failures(SI, "run-1")[0]["reason"] == "no"


def test_concurrent_claims_never_overlap(ledger):
    ids = ledger.ingest(SI, [doc(n) for n in range(300)], "seed").new_ids
    got: list[list[int]] = []

    def worker(name):
        got.append([c.id for c in ledger.claim(SI, ids, name)])

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for part in got for i in part]
    assert sorted(flat) == sorted(ids)  # every document claimed exactly once


def test_stale_intents_of_finished_runs_are_reclaimed_once(ledger):
    ids = ledger.ingest(SI, [doc(1), doc(2)], "run-1").new_ids
    ledger.claim(SI, ids, "run-1")  # intent written, then the run died
    assert ledger.intent_runs(SI) == ["run-1"]
    stale = ledger.stale_intents(SI, run_ids=["run-1"], claimer="run-2")
    assert {c.id for c in stale} == set(ids)
    assert ledger.stale_intents(SI, run_ids=["run-1"], claimer="run-3") == []  # run-2 holds them now
    assert ledger.stale_intents(SI, older_than=timedelta(hours=1)) == []
    assert {c.id for c in ledger.stale_intents(SI, older_than=timedelta(0), claimer="run-4")} == set(ids)


def test_requeue_starts_a_new_idempotency_generation(ledger):
    ids = ledger.ingest(SI, [doc(1)], "run-1").new_ids
    [c] = ledger.claim(SI, ids, "run-1")
    assert c.idempotency_key == idempotency_key("t", SI, "invoice", "P1", "INV-1")
    ledger.record_outcomes(SI, [Outcome(c.id, FAILED, error_class="rejected", error="bad account")], "run-1")
    assert ledger.requeue(SI, ids, "replay-1") == 1
    [again] = ledger.claim(SI, ids, "replay-1")
    assert again.idempotency_key != c.idempotency_key and again.idempotency_key.endswith("-r2")


def test_corrected_resend_replaces_a_quarantined_document(ledger):
    ledger.ingest(SI, [doc(1, QUARANTINED, payload=b"<broken")], "run-1")
    fixed = ledger.ingest(SI, [doc(1, payload=b"<fixed/>")], "run-2")
    assert fixed.refreshed == 1 and len(fixed.new_ids) == 1
    assert ledger.documents(SI)[0].raw_payload == b"<fixed/>"
    # an identical resend is a plain duplicate
    assert ledger.ingest(SI, [doc(1, payload=b"<fixed/>")], "run-3").duplicates == 1


def test_posted_document_is_never_replaced(ledger):
    ids = ledger.ingest(SI, [doc(1)], "run-1").new_ids
    ledger.claim(SI, ids, "run-1")
    ledger.record_outcomes(SI, [Outcome(ids[0], POSTED, target_id="9")], "run-1")
    changed = ledger.ingest(SI, [doc(1, payload=b"<changed/>")], "run-2")
    assert changed.duplicates == 1 and changed.refreshed == 0
    assert ledger.documents(SI)[0].raw_payload == b"<x>1</x>"


def test_cursor_round_trip(ledger):
    assert ledger.get_cursor(SI) is None
    ledger.set_cursor(SI, "abc")
    ledger.set_cursor(SI, "def")
    assert ledger.get_cursor(SI) == "def"
    ledger.set_cursor(SI, None)
    assert ledger.get_cursor(SI) is None


def test_posted_without_followup(ledger):
    ids = ledger.ingest("sps-intacct", [Incoming("order", "P1", f"PO-{n}", "out/x", b"x") for n in range(3)], "r").new_ids
    ledger.claim("sps-intacct", ids, "r")
    ledger.record_outcomes("sps-intacct", [Outcome(i, POSTED, target_id=str(i)) for i in ids], "r")
    ledger.ingest("intacct-sps", [Incoming("orderack", "P1", "PO-0", "out/x", b"x")], "r")
    missing = ledger.posted_without_followup("sps-intacct", "order", "intacct-sps", "orderack")
    assert [m.natural_key for m in missing] == ["PO-1", "PO-2"]
