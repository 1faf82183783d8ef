"""The pure rules of documents sent to SPS living on: what a QBO or Intacct read means (effect,
version), what RSX purpose a write carries, and the SPS path of each revision's file."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ml_connector.connectors.intacct.models import ArInvoice
from ml_connector.connectors.qbo.models import Invoice
from ml_connector.connectors.sps.models import (
    InvoiceDocHeader,
    InvoiceHeader,
    InvoiceLine,
    InvoiceLineItem,
    RsxInvoice,
)
from ml_connector.ledger.keys import idempotency_key
from ml_connector.ledger.store import Claimed
from ml_connector.mappings.outbound_revisions import (
    intacct_effect,
    intacct_version,
    purpose_code,
    qbo_cancellation,
    qbo_effect,
    qbo_version,
    qbo_voided,
    with_purpose,
)
from ml_connector.mappings.qbo_to_sps import deleted_invoices, named_invoices
from ml_connector.tasks.sps import generation, revision_path


def qbo(**fields) -> Invoice:
    body = {"Id": "7", "SyncToken": "0", "DocNumber": "INV-7", "TotalAmt": "8.50", "CustomerRef": {"value": "5"}}
    return Invoice.model_validate(body | fields)


def test_a_qbo_invoice_is_an_original_at_synctoken_0_and_an_update_after():
    assert (qbo_effect(qbo()), qbo_version(qbo())) == ("create", "0")
    assert (qbo_effect(qbo(SyncToken="3")), qbo_version(qbo(SyncToken="3"))) == ("update", "3")


def test_a_voided_or_deleted_qbo_invoice_is_a_cancellation():
    voided = qbo(SyncToken="2", TotalAmt="0", Balance="0", PrivateNote="Voided")
    assert qbo_voided(voided) and qbo_effect(voided) == "cancel"
    stub = Invoice.model_validate({"Id": "7", "status": "Deleted"})
    assert qbo_effect(stub) == "cancel" and qbo_version(stub) is None


def test_a_note_about_voids_on_a_live_invoice_is_not_a_void():
    assert not qbo_voided(qbo(PrivateNote="Voided the old one, this replaces it"))  # it still has a total
    assert not qbo_voided(qbo(TotalAmt="0"))  # a zero invoice is not a voided one


def test_a_cancellation_carries_what_was_sent_marked_with_what_cancelled_it():
    sent = json.dumps({"Id": "7", "SyncToken": "1", "DocNumber": "INV-7", "TotalAmt": "8.50"}).encode()
    voided = json.loads(qbo_cancellation(sent, qbo(SyncToken="2", TotalAmt="0", PrivateNote="Voided")))
    assert voided["TotalAmt"] == "8.50" and voided["SyncToken"] == "2" and voided["PrivateNote"] == "Voided"
    deleted = json.loads(qbo_cancellation(sent, Invoice.model_validate({"Id": "7", "status": "Deleted"})))
    assert deleted["status"] == "Deleted" and deleted["SyncToken"] == "1" and deleted["DocNumber"] == "INV-7"


def test_webhook_notifications_read_voids_and_stub_deletes():
    def note(op: str, oid: str) -> Claimed:
        raw = json.dumps({"entity": "Invoice", "operation": op, "id": oid}).encode()
        return Claimed(1, "notification", "realm", oid, "wh", raw, None, "k", 0)

    notes = [note("Create", "1"), note("Void", "2"), note("Delete", "3"), note("Update", "1")]
    assert named_invoices(notes) == ["1", "2"]
    assert [(i.id, i.deleted) for i in deleted_invoices(notes)] == [("3", True)]


def ar(state: str | None = "Posted", modified: datetime | None = None) -> ArInvoice:
    return ArInvoice(record_no="11", record_id="AR-1", customer_id="C1", when_created=date(2026, 10, 1),
                     when_modified=modified or datetime(2026, 10, 1, 8, 30), total=Decimal("10"), state=state)


def test_an_ar_invoice_read_is_a_whole_document_update_a_reversed_one_a_cancellation():
    assert intacct_effect(ar()) == "update"
    assert intacct_effect(ar("Reversed")) == intacct_effect(ar("Voided")) == "cancel"
    assert intacct_effect(ar("Reversal")) is None  # the counter-entry: nothing to send


def test_whenmodified_versions_sort_in_time_whatever_the_zone():
    naive = intacct_version(ar(modified=datetime(2026, 10, 1, 9, 5)))
    aware = intacct_version(ar(modified=datetime(2026, 10, 1, 11, 5, tzinfo=timezone(timedelta(hours=2)))))
    later = intacct_version(ar(modified=datetime(2026, 10, 1, 10, 0, 0, 1)))
    assert naive == aware == "2026-10-01T09:05:00.000000" and naive < later


@pytest.mark.parametrize("effect,code", [("create", "00"), ("update", "05"), ("replace", "05"), ("cancel", "01")])
def test_each_write_carries_the_rsx_purpose_of_its_effect(effect, code):
    doc = RsxInvoice(header=InvoiceDocHeader(invoice_header=InvoiceHeader(
        trading_partner_id="P", invoice_number="1", invoice_date=date(2026, 10, 1))),
        line_item=[InvoiceLineItem(invoice_line=InvoiceLine(invoice_qty=Decimal(1), purchase_price=Decimal(1)))])
    assert purpose_code(effect) == code
    assert with_purpose(doc, effect).header.invoice_header.tset_purpose_code == code


def test_a_person_s_task_has_no_rsx_purpose():
    with pytest.raises(ValueError, match="needs_person"):
        purpose_code("needs_person")


def claimed(revision: int = 1, generation_: int = 0, resend: bool = False, ref: str | None = "in/IN_P_9.xml") -> Claimed:
    key = idempotency_key("t", "qbo-sps", "invoice", "P", "9", generation_, revision)
    return Claimed(1, "invoice", "P", "9", "Invoice:9", b"{}", ref, key, 0, revision=revision, resend=resend)


def test_each_revision_and_each_resend_has_a_path_of_its_own():
    paths = [revision_path(claimed()), revision_path(claimed(2)), revision_path(claimed(3)),
             revision_path(claimed(2, 1, resend=True)), revision_path(claimed(2, 2, resend=True))]
    assert paths == ["in/IN_P_9.xml", "in/IN_P_9-2.xml", "in/IN_P_9-3.xml", "in/IN_P_9-2-r1.xml", "in/IN_P_9-2-r2.xml"]
    assert len(set(paths)) == len(paths)


def test_a_replay_after_a_definite_failure_keeps_the_revision_s_path():
    # nothing of a failed upload reached SPS: the same name is the same transaction still to send
    assert revision_path(claimed(1, 1)) == "in/IN_P_9.xml" and revision_path(claimed(2, 1)) == "in/IN_P_9-2.xml"


def test_the_generation_is_read_from_the_key():
    assert generation(idempotency_key("t", "i", "d", "p", "k")) == 0
    assert generation(idempotency_key("t", "i", "d", "p", "k", 4)) == 4
