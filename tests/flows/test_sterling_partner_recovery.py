"""A run killed while it creates Sterling trading partners: the partners are created by the next
run and every document for them delivered once (the partner rows used to be picked up by the X12
step, quarantined as "no X12 mapping for partner", and every document for them then failed)."""

from __future__ import annotations

from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
from ml_connector.ledger.schema import POSTED, POSTING, QUARANTINED
from ml_connector.ledger.store import Outcome
from ml_connector.tasks import sterling as sterling_tasks

from tests.flows.test_intacct_sterling_flows import OUT, delivered_keys, seed_pos, sworld  # noqa: F401

PARTNERS = {"ACME_DIST", "SPS_TEST", "NORTHWIND", "GLOBEX_RETAIL"}


class Killed(RuntimeError):
    """Stands for the SIGKILL: raised after the partners' intents are written, before any outcome."""


def _killed(res, prepared):
    raise Killed()


def test_partners_a_killed_run_left_mid_creation_are_created_and_their_documents_delivered(sworld, monkeypatch):
    w = sworld()
    pos = seed_pos(w)
    real = sterling_tasks._write_partners
    monkeypatch.setattr(sterling_tasks, "_write_partners", _killed)
    intacct_to_sterling(tenant="demo", return_state=True)
    partners = w.ledger.documents(OUT, doc_type="partner")
    assert partners and {r.status for r in partners} == {POSTING}  # what the kill leaves
    assert w.sterling.partners() == []
    monkeypatch.setattr(sterling_tasks, "_write_partners", real)
    for _ in range(2):  # the next run recovers; one more delivers what waited on a mailbox
        assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    assert {p["partnerName"] for p in w.sterling.partners()} == PARTNERS
    assert {r.status for r in w.ledger.documents(OUT, doc_type="partner")} == {POSTED}
    assert not w.ledger.documents(OUT, status=QUARANTINED)
    counts = delivered_keys(w)
    assert {k for t, k in counts if t == "850"} == pos and all(c == 1 for c in counts.values())


def test_a_partner_row_replayed_goes_out_as_a_partner_not_as_x12(sworld):
    """Partner rows an older build quarantined come back through replay, whose post task is the
    X12 delivery task: it writes them as partners."""
    w = sworld()
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    ids = [r.id for r in w.ledger.documents(OUT, doc_type="partner")]
    w.ledger.record_outcomes(OUT, [Outcome(i, QUARANTINED, error="no X12 mapping for partner") for i in ids], "old")
    assert w.ledger.requeue(OUT, ids, "replay") == len(ids)
    counts = sterling_tasks.deliver_documents.fn("demo", ids, "replay")
    assert counts[POSTED] == len(ids) and counts[QUARANTINED] == 0
    assert {p["partnerName"] for p in w.sterling.partners()} == PARTNERS
