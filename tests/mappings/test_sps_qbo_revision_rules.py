"""SPS -> QBO revisions as pure rules: what an order's purpose code asks of QBO, what a PO in
QBO can still take, and the update body each revision writes (docs/revisions-sps-qbo.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.connectors.qbo.models import PurchaseOrder
from ml_connector.connectors.sps import rsx
from ml_connector.ledger.schema import QUARANTINED, RECEIVED
from ml_connector.ledger.store import Claimed
from ml_connector.mappings.sps_to_qbo import (
    CLOSED,
    NeedsPerson,
    carries_revision,
    claimed_po,
    order_rows,
    order_to_po,
    revision_blocker,
    revision_body,
)
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANT = load_tenant(FIXTURES / "golden" / "qbo" / "tenant.yaml")
ORDER = (FIXTURES / "sps" / "PO584616.xml").read_bytes()
KEY = "0123456789abcdef0123456789abcdef0123"


def with_purpose(code: str, content: bytes = ORDER) -> bytes:
    return content.replace(b"<TsetPurposeCode>00</TsetPurposeCode>", f"<TsetPurposeCode>{code}</TsetPurposeCode>".encode())


def rows_of(content: bytes):
    return order_rows("out/PO584616.xml", content, TENANT)


@pytest.mark.parametrize(("code", "effect"), [("00", "create"), ("06", "create"), ("07", "create"),
                                              ("04", "update"), ("05", "replace"), ("01", "cancel")])
def test_the_purpose_code_says_what_qbo_must_do(code, effect):
    [row], pos = rows_of(with_purpose(code))
    assert (row.status, row.effect, row.reason) == (RECEIVED, effect, None)
    assert list(pos) == [("order", "SPSALLTESTID", "PO584616")]


def test_a_cancellation_is_the_po_closed_without_lines_even_when_its_items_do_not_map():
    unknown_item = with_purpose("01").replace(b"SPSBuyerItem1", b"NOPE").replace(b"SPSSupplierHD-20", b"NOPE") \
        .replace(b"859563003863", b"000000000000")
    [row], pos = rows_of(unknown_item)
    _, po = pos[("order", "SPSALLTESTID", "PO584616")]
    assert row.status == RECEIVED and row.effect == "cancel"
    assert po.po_status == CLOSED and po.line == [] and po.doc_number == "PO584616" and po.vendor_ref.value


def test_a_change_that_does_not_map_is_held_back_as_a_revision_not_taken_for_a_duplicate():
    [row], pos = rows_of(with_purpose("04").replace(b"SPSBuyerItem1", b"NOPE").replace(b"SPSSupplierHD-20", b"NOPE")
                         .replace(b"859563003863", b"000000000000"))
    assert (row.status, row.effect) == (QUARANTINED, "update") and "unknown item" in row.last_error and pos == {}


def test_a_purpose_code_no_rule_applies_needs_a_person_with_the_reason():
    [row], pos = rows_of(with_purpose("CN"))
    assert row.status == QUARANTINED and row.effect == "needs_person" and row.error_class == "needs_person"
    assert row.reason.startswith("PO PO584616: purpose code 'CN' is none this integration applies")
    assert row.reason in row.last_error and pos == {}


def current_po(**fields) -> PurchaseOrder:
    base = {"Id": "57", "SyncToken": "3", "DocNumber": "PO584616", "POStatus": "Open", "VendorRef": {"value": "56"},
            "Line": [{"Amount": 100, "DetailType": "AccountBasedExpenseLineDetail",
                      "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7"}}}]}
    return PurchaseOrder.model_validate({**base, **fields})


def wanted(code: str) -> PurchaseOrder:
    _, pos = rows_of(with_purpose(code))
    return pos[("order", "SPSALLTESTID", "PO584616")][1]


def test_a_received_po_takes_neither_a_change_nor_a_cancellation():
    received = current_po(POStatus="Closed", LinkedTxn=[{"TxnId": "88", "TxnType": "Bill"}])
    assert revision_blocker(received, wanted("04")) == (
        "PO PO584616 (QBO 57) is received (bill 88): apply the change in QBO by hand, then replay it")
    assert revision_blocker(received, wanted("01")) == (
        "PO PO584616 (QBO 57) is received (bill 88): apply the cancellation in QBO by hand, then replay it")


def test_a_closed_po_takes_no_change_but_closing_it_again_is_fine_and_an_open_one_takes_both():
    closed = current_po(POStatus="Closed")
    assert revision_blocker(closed, wanted("05")) == (
        "PO PO584616 (QBO 57) is closed: reopen it in QBO to apply the change, then replay it")
    assert revision_blocker(closed, wanted("01")) is None
    assert revision_blocker(current_po(), wanted("04")) is None and revision_blocker(current_po(), wanted("01")) is None


def test_each_effect_writes_its_own_update_with_the_current_synctoken_and_the_revision_key():
    current = current_po(Memo="typed in QBO")
    close, sparse = revision_body(current, wanted("01"), "cancel", KEY)
    assert sparse and close == {"Id": "57", "SyncToken": "3", "POStatus": "Closed",
                                "PrivateNote": f"sps:SPSALLTESTID:PO584616 mlc-rev:{KEY}"}
    change, sparse = revision_body(current, wanted("04"), "update", KEY)
    assert sparse and change["Id"] == "57" and change["SyncToken"] == "3" and "POStatus" not in change
    assert [ln["Amount"] for ln in change["Line"]] == [Decimal("100.00")]
    replaced, sparse = revision_body(current, wanted("05"), "replace", KEY)
    assert not sparse and replaced == change  # a full update: what the new document does not carry is cleared
    written = current.model_copy(update={"private_note": change["PrivateNote"]})
    assert carries_revision(written, KEY) and not carries_revision(written, KEY[:-1])
    assert not carries_revision(current, KEY)


def test_the_cancellation_maps_through_order_to_po_too():
    [(_, doc)] = rsx.parse(with_purpose("01"), filename="PO584616.xml")
    assert order_to_po(doc, TENANT).po_status == CLOSED
    [(_, doc)] = rsx.parse(with_purpose("XX"), filename="PO584616.xml")
    with pytest.raises(NeedsPerson):
        order_to_po(doc, TENANT)


def test_the_po_mapped_at_ingest_is_used_only_for_the_content_it_was_mapped_from():
    # a page holding the original and its change: the ledger claims the change, whatever the
    # page's hand-over holds for that order
    change = with_purpose("04").replace(b"<OrderQty>5</OrderQty>", b"<OrderQty>9</OrderQty>")
    _, original_pos = rows_of(ORDER)
    [row], change_pos = rows_of(change)
    claimed = Claimed(id=1, doc_type="order", partner=row.partner, natural_key=row.natural_key,
                      source_ref=row.source_ref, raw_payload=change, idempotency_key=KEY, target_ref=row.target_ref,
                      attempts=1, revision=2, effect="update", target_id="57")
    key = ("order", "SPSALLTESTID", "PO584616")
    assert claimed_po(claimed, change_pos[key], TENANT) is change_pos[key][1]
    remapped = claimed_po(claimed, original_pos[key], TENANT)
    assert remapped == change_pos[key][1] and remapped.line[0].item_based_expense_line_detail.qty == 9
