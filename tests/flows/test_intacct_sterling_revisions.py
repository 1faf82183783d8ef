"""Intacct -> Sterling revisions end to end on the engine and the emulators: a bill or PO changed
after it was sent goes out as its own interchange (new ISA/GS/ST control numbers) with the
purpose code of what it does (BIG08 / BEG01: 05 replace, 01 cancellation); its 997 is tracked
for it; a cancellation before anything was sent, an older version read after a newer one, a
payment, a received PO's change, a rejected revision and a kill between intent and outcome."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from ml_connector.connectors import x12
from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
from ml_connector.flows.sterling_mailbox import sterling_mailbox
from ml_connector.ledger.schema import POSTED, POSTING, QUARANTINED, SKIPPED, document_events
from ml_connector.ledger.x12_controls import ack_rows
from ml_connector.mappings.intacct_sterling import record_row
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct.po import add_purchase_order
from ml_connector.tasks import sterling as sterling_tasks
from tests.flows import test_intacct_sterling_flows as flows

OUT, seed_bills = flows.OUT, flows.seed_bills
sworld = flows.sworld  # the Intacct + Sterling world fixture, used here by name

STAMP = "%m/%d/%Y %H:%M:%S"


class Killed(RuntimeError):
    """Stands for the SIGKILL between a delivery's intent and its outcome."""


def interchanges(w, partner: str) -> list[tuple[str, str, str | None, int]]:
    """(set, document number, purpose code, ISA13) of every interchange delivered to ``partner``."""
    out = []
    for d in w.sterling.delivered(partner):
        ic = x12.parse(d["content"])
        for g in ic.groups:
            for ts in g.sets:
                doc = x12.decode_document(ts)
                number = getattr(doc, "invoice_number", None) or doc.po_number
                out.append((ts.id, number, doc.purpose, ic.control_number))
    return out


def sent_po(w, number="PO-7", quantity=3, state="Pending"):
    add_purchase_order(w.intacct, number, "V-ACMEDI", [{"item_id": "WID-100", "quantity": quantity, "price": "4.25"}],
                       date(2026, 10, 2), state=state)


def change(w, obj: str, field: str, key: str, *, lines: dict | None = None, **values) -> None:
    """The record changes in Intacct: header ``values`` and, for every line, ``lines``; WHENMODIFIED now."""
    with w.intacct.lock:
        record = next(r for r in w.intacct.store.records(obj) if r[field] == key)
        record.update(values, WHENMODIFIED=w.intacct._now().strftime(STAMP))
        for line in w.intacct.store.items.get((obj, record["RECORDNO"]), []) if lines else []:
            line.update(lines)


def doc(w, doc_type: str, key: str):
    return next(r for r in w.ledger.documents(OUT, doc_type=doc_type) if r.natural_key == key)


def superseded(w, doc_id: int) -> list[tuple[int, str]]:
    """(revision, reason) of the document's ``x12_superseded`` events: its earlier interchanges."""
    with w.ledger.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(document_events.c.revision, document_events.c.reason)
            .where(document_events.c.document_id == doc_id, document_events.c.event == "x12_superseded")
            .order_by(document_events.c.id))]


def run():
    return intacct_to_sterling(tenant="demo", return_state=True)


def test_a_changed_po_goes_out_as_a_replacement_under_new_control_numbers_and_its_997_is_its_own(sworld):
    w = sworld()
    w.sterling.answer_with_997("accept")
    sent_po(w)
    assert run().is_completed()
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()
    [first] = ack_rows(w.ledger)
    assert first.state == "accepted"
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "999"})
    state = run()
    assert state.is_completed() and state.result()["posted"] == 1
    sent = interchanges(w, "ACME_DIST")
    assert [(s, n, p) for s, n, p, _ in sent] == [("850", "PO-7", "00"), ("850", "PO-7", "05")]
    assert sent[1][3] > sent[0][3]  # a new ISA13, never the original's
    order = x12.decode_document(x12.parse(w.sterling.delivered("ACME_DIST")[1]["content"]).groups[0].sets[0])
    assert order.lines[0].quantity == 999
    row = doc(w, "850", "PO-7")
    assert (row.status, row.revision, row.applied_revision) == (POSTED, 2, 2)
    [now] = ack_rows(w.ledger)
    assert (now.interchange, now.group_control, now.state) == (sent[1][3], sent[1][3], "delivered")
    assert now.set_control != first.set_control
    # the earlier interchange and its 997 stay in the document's history
    [(revision, reason)] = superseded(w, row.id)
    assert revision == 2 and reason.startswith(f"before revision 2: interchange {first.interchange} ")
    assert reason.endswith(" accepted")
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()
    assert [r.state for r in ack_rows(w.ledger)] == ["accepted"]
    assert run().result()["posted"] == 0  # read again: nothing new, nothing sent


def test_a_reversed_bill_goes_out_as_an_810_cancellation_and_a_payment_sends_nothing(sworld):
    w = sworld()
    bills = sorted(seed_bills(w, 4))
    assert run().is_completed()
    partner_of = {r.natural_key: r.partner for r in w.ledger.documents(OUT, doc_type="810")}
    (vendor_a, paid), (_, reversed_) = bills[0], bills[1]
    w.intacct.pay_bill(paid, vendor_id=vendor_a)  # TOTALPAID, TOTALDUE, STATE and WHENMODIFIED move
    change(w, "APBILL", "RECORDID", reversed_, STATE="Reversed", TOTALDUE="0", TRX_TOTALDUE="0")
    state = run()
    assert state.is_completed() and state.result()["posted"] == 1
    sent = [i for i in interchanges(w, partner_of[reversed_]) if i[1] == reversed_]
    assert [(s, p) for s, _, p, _ in sent] == [("810", None), ("810", "01")]  # BIG08 left out on the original
    assert len({c for *_, c in sent}) == 2
    assert [i for i in interchanges(w, partner_of[paid]) if i[1] == paid][0][2] is None
    assert len([i for i in interchanges(w, partner_of[paid]) if i[1] == paid]) == 1
    assert doc(w, "810", paid).revision == 1  # the payment is not a revision of the 810
    row = doc(w, "810", reversed_)
    assert (row.status, row.revision, row.applied_revision, row.effect) == (POSTED, 2, 2, "cancel")


def test_a_po_cancelled_before_it_was_ever_sent_is_skipped_and_nothing_goes_out(sworld):
    w = sworld()
    sent_po(w, "PO-8", state="Canceled")
    assert run().is_completed()
    row = doc(w, "850", "PO-8")
    assert row.status == SKIPPED and "cancelled before any original" in row.last_error
    assert not any(n == "PO-8" for _, n, _, _ in interchanges(w, "ACME_DIST"))


def test_an_older_version_read_after_a_newer_one_is_superseded_and_never_sent(sworld):
    w = sworld()
    sent_po(w, quantity=5)
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "6"})
    assert run().is_completed()
    settings = w.mapping.sterling
    newer = next(r for r in w.intacct.store.records("PODOCUMENT") if r["DOCNO"] == "PO-7")
    stale = {**newer, "WHENMODIFIED": datetime(2026, 10, 1, 9, 0).strftime(STAMP),
             "PODOCUMENTENTRIES": [{"ITEMID": "WID-100", "QUANTITY": "5", "PRICE": "4.25", "UNIT": "Each"}]}
    result = w.ledger.ingest(OUT, [record_row("850", stale, settings, sent=True)], "a-late-replica-read")
    assert result.superseded == 1 and not result.new_ids
    assert run().result()["posted"] == 0
    assert len(interchanges(w, "ACME_DIST")) == 1


def test_a_received_po_changed_after_it_was_sent_needs_a_person(sworld):
    w = sworld()
    sent_po(w)
    assert run().is_completed()
    change(w, "PODOCUMENT", "DOCNO", "PO-7", STATE="Partially Converted", lines={"QUANTITY": "1"})
    state = run()
    assert state.is_failed()
    assert "PO PO-7 changed after it was received" in state.message, state.message
    row = doc(w, "850", "PO-7")
    assert (row.status, row.error_class) == (QUARANTINED, "needs_person")
    assert "agree the change with the vendor by hand" in row.last_error
    assert len(interchanges(w, "ACME_DIST")) == 1


def test_a_rejected_revision_stays_rejected_with_its_reason_and_a_later_one_is_still_sent(sworld):
    w = sworld()
    w.sterling.answer_with_997("accept")
    sent_po(w)
    assert run().is_completed() and sterling_mailbox(tenant="demo", return_state=True).is_completed()
    w.sterling.answer_with_997("reject")
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "4"})
    assert run().result()["posted"] == 1
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()
    [rejected] = ack_rows(w.ledger)
    assert rejected.state == "rejected" and rejected.reasons
    w.sterling.answer_with_997("accept")
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "5"})
    assert run().result()["posted"] == 1
    sent = interchanges(w, "ACME_DIST")
    assert [p for _, _, p, _ in sent] == ["00", "05", "05"] and len({c for *_, c in sent}) == 3
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()
    [accepted] = ack_rows(w.ledger)
    assert (accepted.state, accepted.interchange) == ("accepted", sent[2][3])
    history = superseded(w, accepted.document_id)  # revision 2's rejection, with the partner's reasons
    assert [r for r, _ in history] == [2, 3] and " rejected: " in history[1][1]
    assert doc(w, "850", "PO-7").applied_revision == 3


def test_a_resend_on_purpose_goes_out_under_new_control_numbers(sworld):
    w = sworld()
    w.sterling.answer_with_997("reject")
    sent_po(w)
    assert run().is_completed() and sterling_mailbox(tenant="demo", return_state=True).is_completed()
    row = doc(w, "850", "PO-7")
    w.ledger.resend([row.id], who="ops", why="partner rejected the 850 in its 997", run_id="resend")
    w.sterling.answer_with_997("accept")
    assert run().result()["posted"] == 1
    sent = interchanges(w, "ACME_DIST")
    assert [p for _, _, p, _ in sent] == ["00", "00"] and sent[0][3] != sent[1][3]
    assert sterling_mailbox(tenant="demo", return_state=True).is_completed()
    assert [r.state for r in ack_rows(w.ledger)] == ["accepted"]


def _kill_after(write):
    def killed(res, prepared):
        write(res, prepared)  # the interchange is in the Inbox; the outcome is never recorded
        raise Killed()
    return killed


def test_a_revision_a_killed_run_delivered_is_found_not_sent_again(sworld, monkeypatch):
    w = sworld()
    sent_po(w)
    assert run().is_completed()
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "12"})
    real = sterling_tasks._deliver
    monkeypatch.setattr(sterling_tasks, "_deliver", _kill_after(real))
    assert not run().is_completed()
    assert doc(w, "850", "PO-7").status == POSTING
    monkeypatch.setattr(sterling_tasks, "_deliver", real)
    state = run()
    assert state.is_completed() and state.result()["recovered_posted"] == 1
    sent = interchanges(w, "ACME_DIST")
    assert [p for _, _, p, _ in sent] == ["00", "05"]  # the revision once: no double, no loss
    row = doc(w, "850", "PO-7")
    assert (row.status, row.applied_revision) == (POSTED, 2)
    [ack] = ack_rows(w.ledger)
    assert (ack.interchange, ack.state) == (sent[1][3], "delivered")


def test_a_revision_a_killed_run_never_delivered_goes_out_once_under_its_own_numbers(sworld, monkeypatch):
    w = sworld()
    sent_po(w)
    assert run().is_completed()
    change(w, "PODOCUMENT", "DOCNO", "PO-7", lines={"QUANTITY": "12"})
    real = sterling_tasks._deliver
    monkeypatch.setattr(sterling_tasks, "_deliver", lambda res, prepared: (_ for _ in ()).throw(Killed()))
    assert not run().is_completed()
    [assigned] = ack_rows(w.ledger)  # the revision's numbers were taken before the kill
    monkeypatch.setattr(sterling_tasks, "_deliver", real)
    state = run()
    assert state.is_completed() and state.result()["recovered_requeued"] == 1
    sent = interchanges(w, "ACME_DIST")
    assert [p for _, _, p, _ in sent] == ["00", "05"] and sent[1][3] == assigned.interchange
    assert doc(w, "850", "PO-7").applied_revision == 2


def test_every_revision_reaches_the_partner_once_under_lost_responses_and_errors(sworld):
    """Three rounds of changes (the last cancels two POs) against a Sterling that loses 30% of
    the answers to writes and fails 10% with a 5xx: each revision is one interchange of its own,
    none is delivered twice, and what each partner holds last is Intacct's final PO."""
    w = sworld(sterling_faults=FaultPlan(rate_lost_write=0.3, rate_5xx=0.1, seed=5))
    numbers = [f"PO-{k}" for k in range(6)]
    for n in numbers:
        sent_po(w, n, quantity=1)

    def drain():
        for _ in range(8):
            state = run()
            counts = w.ledger.status_counts(OUT)
            if state.is_completed() and not counts.get("received") and not counts.get("posting"):
                return
        raise AssertionError(f"not drained: {w.ledger.status_counts(OUT)}")

    drain()
    for round_ in (2, 3, 4):
        for n in numbers:
            cancel = round_ == 4 and n in ("PO-0", "PO-1")
            change(w, "PODOCUMENT", "DOCNO", n, lines={"QUANTITY": str(round_)}, **({"STATE": "Canceled"} if cancel else {}))
        drain()
    faults = w.sterling.faults.counts
    assert faults.get("lost_write", 0) > 0 and faults.get("5xx", 0) > 0, faults  # the faults did happen
    sent = interchanges(w, "ACME_DIST")
    assert len({c for *_, c in sent}) == len(sent)  # no interchange delivered twice
    for n in numbers:
        mine = [(p, c) for _, number, p, c in sent if number == n]
        assert [p for p, _ in mine] == ["00", "05", "05", "01" if n in ("PO-0", "PO-1") else "05"], (n, mine)
        assert doc(w, "850", n).applied_revision == 4
    last = {}
    for d in w.sterling.delivered("ACME_DIST"):
        ic = x12.parse(d["content"])
        order = x12.decode_document(ic.groups[0].sets[0])
        if order.po_number not in last or ic.control_number > last[order.po_number][0]:
            last[order.po_number] = (ic.control_number, order.lines[0].quantity)
    assert {n: q for n, (_, q) in last.items()} == {n: 4 for n in numbers}
