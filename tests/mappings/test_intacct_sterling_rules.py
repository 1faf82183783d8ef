"""The Intacct -> Sterling rules and the mailbox's rows, without a system: which ledger row a bill
or PO becomes, which vendor becomes which partner, how partner rows are told from X12 documents,
what a delivered message is named, and what a partner's Outbox message becomes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.connectors import x12
from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.sterling import TradingPartner
from ml_connector.ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ml_connector.mappings.intacct_sterling import (
    PARTNER,
    blocker,
    content,
    cursor_name,
    document_key,
    kinds_to_send,
    last_modified,
    listing_query,
    message_name,
    partner_holds,
    partner_rows,
    purpose_code,
    record_amount,
    record_row,
    source_version,
    split_partners,
    x12_amount,
    x12_document,
    x12_message,
)
from ml_connector.mappings.intacct_to_x12 import document_for
from ml_connector.mappings.sterling_inbound import accepted, ack_verdicts, message_rows
from ml_connector.mappings.tenant import load_tenant

SETTINGS = load_tenant(Path(__file__).parents[2] / "tenants" / "demo.yaml").sterling

PO = {"RECORDNO": "77", "DOCNO": "PO-1", "VENDORID": "V-ACMEDI", "WHENCREATED": "10/02/2026",
      "WHENMODIFIED": "10/02/2026 08:00:05", "PODOCUMENTENTRIES": [{"ITEMID": "WID-100", "QUANTITY": "3",
                                                                    "PRICE": "4.25", "UNIT": "Each"}]}


def test_the_kinds_sent_follow_the_tenant_switches_bills_first():
    assert kinds_to_send(SETTINGS) == ["810", "850"]
    assert kinds_to_send(SETTINGS.model_copy(update={"send_bills": False})) == ["850"]
    assert cursor_name("850") == "whenmodified-850"


def test_the_listing_query_is_a_utc_window_and_pos_are_purchase_orders_only():
    since = datetime(2026, 10, 2, 10, 0, tzinfo=UTC)
    assert listing_query("810", since, None) == "WHENMODIFIED >= '10/02/2026 10:00:00'"
    until = datetime(2026, 10, 2, 12, 0, 30, tzinfo=UTC)
    assert listing_query("850", since, until) == ("WHENMODIFIED >= '10/02/2026 10:00:00' AND WHENMODIFIED < "
                                                  "'10/02/2026 12:00:30' AND DOCPARID = 'Purchase Order'")


def test_the_high_water_mark_is_the_newest_stamp_of_a_page():
    records = [{"WHENMODIFIED": "10/02/2026 08:00:05"}, {"WHENMODIFIED": "10/02/2026 09:00:00"}, {}]
    assert last_modified(records) == datetime(2026, 10, 2, 9, 0, 0)
    assert last_modified([{}]) is None


def test_a_record_becomes_a_row_to_deliver_skipped_without_a_partner_or_quarantined():
    row = record_row("850", PO, SETTINGS)
    assert (row.status, row.partner, row.natural_key, row.target_ref) == (RECEIVED, "ACME_DIST", "PO-1", "/ACME_DIST/Inbox")
    # the stored content is what the 850 is made of; WHENMODIFIED is the revision's order instead
    assert json.loads(row.raw_payload) == {k: v for k, v in PO.items() if k != "WHENMODIFIED"}
    assert (row.source_ref, row.source_version, row.effect) == ("PODOCUMENT:77", "2026-10-02T08:00:05", "create")
    nobody = record_row("850", {**PO, "VENDORID": "V-NOBODY"}, SETTINGS)
    assert (nobody.status, nobody.error_class, nobody.partner) == (SKIPPED, "no_route", "V-NOBODY")
    lineless = record_row("850", {**PO, "PODOCUMENTENTRIES": []}, SETTINGS)
    assert lineless.status == QUARANTINED and "has no lines" in lineless.last_error
    unnumbered = record_row("850", {**PO, "DOCNO": " "}, SETTINGS)
    assert unnumbered.natural_key == "RECORDNO:77" and unnumbered.status == QUARANTINED


def test_configured_vendors_become_partner_rows_and_missing_ones_are_named():
    vendors = [{"VENDORID": "V-ACMEDI", "NAME": "Acme Distribution", "RECORDNO": "5"}, {"VENDORID": "V-OTHER"}]
    rows, missing = partner_rows(vendors, SETTINGS)
    assert [(r.doc_type, r.partner, r.natural_key) for r in rows] == [(PARTNER, "ACME_DIST", "V-ACMEDI")]
    assert set(missing) == {"V-SPSALL", "V-NWTRAD", "V-GLOBEX"}
    partner = TradingPartner.model_validate_json(rows[0].raw_payload)
    assert (partner.partner_name, partner.given_name, partner.authentication_type) == ("ACME_DIST", "Acme Distribution",
                                                                                       "External")
    again, _ = partner_rows(vendors, SETTINGS)
    assert again[0].raw_payload == rows[0].raw_payload  # same vendor, same payload: a duplicate, not an update


def test_partner_rows_are_routed_to_partner_creation_whatever_hands_them_over():
    kinds = {1: PARTNER, 2: "850", 3: "810", 4: PARTNER}
    assert split_partners(kinds, [3, 4, 1, 2]) == ([4, 1], [3, 2])


def test_a_message_is_named_after_its_interchange_and_safe_as_a_file_name():
    assert message_name("810", "INV/7 A", 42) == "810_INV_7_A_000000042.x12"


def test_a_stored_record_maps_to_x12_for_its_partner_under_the_given_controls():
    vendor, doc = x12_document("850", json.dumps(PO).encode())
    name, content = x12_message("850", "PO-1", vendor, doc, SETTINGS, interchange=7, group=7, set_control="0001")
    assert name == "850_PO-1_000000007.x12"
    ic = x12.parse(content)
    assert ic.control_number == 7 and ic.groups[0].sets[0].id == "850"
    with pytest.raises(BadDocument):
        x12_document("850", json.dumps({**PO, "PODOCUMENTENTRIES": []}).encode())


# -- the mailbox ---------------------------------------------------------------------------------


def _our_850() -> bytes:
    _, doc = x12_document("850", json.dumps(PO).encode())
    return x12_message("850", "PO-1", "V-ACMEDI", doc, SETTINGS, interchange=9, group=9, set_control="0001")[1]


def test_a_997_becomes_a_row_to_apply_and_its_verdicts_name_our_group():
    ack = x12.encode(x12.acknowledge(x12.parse(_our_850()), control_number=31))
    [row] = message_rows("ACME_DIST", "11", "997.x12", ack)
    assert (row.doc_type, row.status, row.source_ref) == ("997", RECEIVED, "/ACME_DIST/Outbox/997.x12#11")
    assert row.natural_key.endswith(":000000031")
    [verdict] = ack_verdicts(row.raw_payload)
    assert verdict.group_control_number == 9 and accepted(verdict)


def test_a_partners_850_is_stored_and_unreadable_messages_are_quarantined():
    po = x12.encode(x12.wrap([x12.encode_document(x12.PurchaseOrder850(
        po_type="SA", po_number="IN-850-1", po_date=date(2026, 10, 3),
        lines=[{"quantity": 2, "uom": "EA", "unit_price": "1.00"}]), "0001")],
        sender_id="ACMEDIST0001", receiver_id="MLCONNECTOR", control_number=77))
    [stored] = message_rows("ACME_DIST", "12", "po.x12", po)
    assert (stored.doc_type, stored.natural_key, stored.status, stored.error_class) == ("850", "IN-850-1", SKIPPED, "stored")
    [junk] = message_rows("ACME_DIST", "13", "trunc.x12", po[:60])
    assert (junk.doc_type, junk.natural_key, junk.status) == ("x12", "message:13", QUARANTINED) and junk.last_error
    [lost] = message_rows("ACME_DIST", "14", "gone.x12", b"", error="the document is gone")
    assert lost.status == QUARANTINED and lost.last_error == "the document is gone"
    with pytest.raises(BadDocument):
        ack_verdicts(po)  # an 850 holds no 997


# -- revisions: what a changed bill or PO becomes ---------------------------------------------------

BILL = {"RECORDNO": "5", "RECORDID": "B-5", "VENDORID": "V-ACMEDI", "VENDORNAME": "Acme", "WHENCREATED": "10/02/2026",
        "WHENMODIFIED": "10/02/2026 08:00:05", "STATE": "Posted", "TRX_TOTALENTERED": "10.00", "TOTALPAID": "0",
        "TOTALDUE": "10.00", "APBILLITEMS": [{"TRX_AMOUNT": "10.00", "ITEMID": "WID-100", "GLACCOUNTNO": "6000"}]}


def test_the_purpose_code_follows_the_effect_and_an_original_810_leaves_big08_out():
    assert [purpose_code("810", e) for e in ("create", "update", "replace", "cancel")] == [None, "05", "05", "01"]
    assert [purpose_code("850", e) for e in ("create", "update", "replace", "cancel")] == ["00", "05", "05", "01"]
    _, doc = x12_document("850", json.dumps(PO).encode(), "cancel")
    assert doc.purpose == "01"
    _, bill = x12_document("810", json.dumps(BILL).encode(), "update")
    assert bill.purpose == "05"


def test_a_payment_changes_no_content_and_a_reversal_does():
    paid = {**BILL, "STATE": "Paid", "TOTALPAID": "10.00", "TOTALDUE": "0", "WHENMODIFIED": "10/03/2026 09:00:00"}
    assert content("810", paid) == content("810", BILL)
    assert "GLACCOUNTNO" not in content("810", BILL)["APBILLITEMS"][0]  # not in the 810
    reversed_ = {**BILL, "STATE": "Reversed", "TOTALDUE": "0"}
    assert content("810", reversed_) == {**content("810", BILL), "STATE": "Reversed"}
    # what the 810 carries is all the content keeps: mapping the content gives the same document
    assert document_for("810", content("810", BILL)) == document_for("810", BILL)
    assert document_for("850", content("850", PO)) == document_for("850", PO)


def test_the_version_is_whenmodified_in_an_order_text_comparison_keeps():
    assert source_version(BILL) == "2026-10-02T08:00:05"
    assert source_version({**BILL, "WHENMODIFIED": "01/05/2027 00:00:00"}) > source_version(BILL)
    assert source_version({}) is None


def test_a_record_is_an_original_until_sent_then_a_change_or_a_cancellation():
    assert record_row("810", BILL, SETTINGS).effect == "create"
    assert record_row("810", BILL, SETTINGS, sent=True).effect == "update"
    assert record_row("810", {**BILL, "STATE": "Reversed"}, SETTINGS).effect == "cancel"  # nothing sent: the ledger skips it
    assert record_row("810", {**BILL, "STATE": "Voided"}, SETTINGS, sent=True).effect == "cancel"
    assert record_row("850", {**PO, "STATE": "Canceled"}, SETTINGS, sent=True).effect == "cancel"


def test_a_change_of_a_paid_bill_or_received_po_already_sent_needs_a_person():
    paid = {**BILL, "STATE": "Partially Paid", "TOTALPAID": "4.00"}
    row = record_row("810", paid, SETTINGS, sent=True)
    assert (row.effect, row.status) == ("needs_person", RECEIVED)
    assert row.reason.startswith("bill B-5 changed after 4.00 of it was paid") and "\n" not in row.reason
    assert record_row("810", paid, SETTINGS).effect == "create"  # never sent: it is the original
    received = record_row("850", {**PO, "STATE": "Partially Converted"}, SETTINGS, sent=True)
    assert received.effect == "needs_person" and "PO PO-1 changed after it was received" in received.reason
    assert blocker("850", "PO-1", {**PO, "STATE": "Pending"}) is None


def test_a_row_stored_whole_before_revisions_is_not_taken_for_a_change():
    stored = json.dumps({**BILL, "WHENMODIFIED": "10/01/2026 07:00:00"}, sort_keys=True).encode()  # the old format
    paid = {**BILL, "STATE": "Paid", "TOTALPAID": "10.00", "TOTALDUE": "0"}
    assert record_row("810", paid, SETTINGS, sent=True, stored=stored).raw_payload == stored
    changed = {**BILL, "TRX_TOTALENTERED": "11.00"}
    assert record_row("810", changed, SETTINGS, sent=True, stored=stored).raw_payload != stored
    assert document_key("810", BILL, SETTINGS) == ("810", "ACME_DIST", "B-5")


def test_what_a_partner_holds_is_each_documents_latest_interchange_and_a_repeat_is_a_copy():
    def found(number, purpose, interchange, amount="10.00"):
        return {"partner": "ACME_DIST", "doc_type": "810", "number": number, "purpose": purpose,
                "interchange": interchange, "amount": Decimal(amount)}

    holds = partner_holds([found("B-1", None, 3), found("B-1", "05", 9, "12.00"), found("B-2", None, 4),
                           found("B-2", "01", 7), found("B-3", None, 5), found("B-3", None, 5)])
    by_number = sorted((r["number"], r["cancelled"], r["amount"]) for r in holds)
    assert by_number == [("B-1", False, Decimal("12.00")), ("B-2", True, Decimal("10.00")),
                         ("B-3", False, Decimal("10.00")), ("B-3", False, Decimal("10.00"))]
    assert record_amount("810", json.dumps(BILL).encode()) == Decimal("10.00")
    assert record_amount("850", json.dumps(PO).encode()) == Decimal("12.75")
    _, order = x12_document("850", json.dumps(PO).encode())
    assert x12_amount(order) == Decimal("12.75")
