"""Adobe Commerce -> Intacct procure, the rules without I/O: what an order, invoice or credit memo
becomes as a ledger row (to post with its target, skipped with the reason, quarantined), the
bill a credit memo credits, the ids webhook notifications name, and the vendor master's
conflicts and updates for a linked pair."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ml_connector.ledger.store import Claimed
from ml_connector.mappings.commerce_ap_documents import (
    BillChange,
    EntityPage,
    Unchanged,
    credited,
    entity_row,
    envelope,
    named_entities,
    page_rows,
    parse_ref,
    party_of,
    plan,
    read_envelope,
    revision_write,
    source_effect,
    source_version,
    unchanged_as_duplicates,
)
from ml_connector.mappings.commerce_ap_vendor_master import Pair, adoptable, align, nested, update_controlid
from ml_connector.mappings.intacct_bill_revisions import NeedsPerson
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures" / "commerce"
COMMERCE = load_tenant(Path(__file__).parents[2] / "tenants" / "demo-commerce.yaml").commerce


def doc(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_an_order_becomes_its_bill_dated_by_its_creation_with_its_customer_as_party():
    order = doc("order_processing.json")
    row = entity_row("order", order, order, COMMERCE)
    assert (row.status, row.target_ref, row.natural_key, row.doc_date) == (
        RECEIVED, "APBILL:CO-000000003", "3", "2024-05-01")
    party = party_of(read_envelope(row.raw_payload))
    assert (party.customer_id, party.email, party.key) == (3, "jdoe@example.com", "3")


def test_a_canceled_order_is_a_cancellation_of_its_bill_and_an_invoice_of_an_order_billed_whole_is_nothing():
    canceled = {**doc("order_processing.json"), "state": "canceled"}
    row = entity_row("order", canceled, canceled, COMMERCE)
    # the ledger skips it when nothing was posted, and cancels the bill when one was
    assert (row.status, row.effect, row.target_ref) == (RECEIVED, "cancel", "APBILL:CO-000000003")
    assert row.source_version == canceled["updated_at"]
    invoice = entity_row("invoice", doc("invoice_paid.json"), doc("order_processing.json"), COMMERCE)
    assert invoice.status == SKIPPED and invoice.last_error == "billed with its order: AP bill CO-000000003"


def test_a_purchase_order_is_a_po_document_and_its_invoice_a_bill_of_its_own_that_a_memo_credits():
    po = doc("order_b2b_po.json")
    assert entity_row("order", po, po, COMMERCE).target_ref.startswith("PODOCUMENT:")
    invoice = {**doc("invoice_paid.json"), "order_id": po["entity_id"]}
    row = entity_row("invoice", invoice, po, COMMERCE)
    assert row.status == RECEIVED and row.target_ref == f"APBILL:CI-{invoice['increment_id']}"
    memo = {**doc("creditmemo.json"), "order_id": po["entity_id"]}
    assert credited(read_envelope(entity_row("creditmemo", memo, po, COMMERCE).raw_payload)) == ("invoice", "12")


def test_a_credit_memo_is_an_adjustment_crediting_its_orders_bill():
    row = entity_row("creditmemo", doc("creditmemo.json"), doc("order_processing.json"), COMMERCE)
    assert (row.status, row.target_ref) == (RECEIVED, "APADJUSTMENT:CM-000000005")
    assert credited(read_envelope(row.raw_payload)) == ("order", "3")
    assert credited(read_envelope(entity_row("order", doc("order_processing.json"), doc("order_processing.json"),
                                             COMMERCE).raw_payload)) is None


def test_bad_input_and_a_document_whose_order_is_gone_are_quarantined_with_the_reason():
    bad = doc("bad_order_missing_email.json")
    row = entity_row("order", bad, bad, COMMERCE)
    assert row.status == QUARANTINED and row.error_class and row.last_error
    orphan = entity_row("invoice", doc("invoice_paid.json"), None, COMMERCE)
    assert orphan.status == QUARANTINED and "its order 3 was not found in Commerce" in orphan.last_error


def test_a_page_maps_invoices_with_their_orders_and_keeps_what_the_connector_could_not_read():
    order = doc("order_processing.json")
    unreadable = BadDocument("total is not a number", system="adobe", operation="read")
    page = EntityPage(kind="creditmemos", items=[doc("creditmemo.json")], orders={"3": order},
                      rejects=[(None, {"entity_id": None, "grand_total": "x"}, unreadable)])
    rows = page_rows(page, COMMERCE)
    assert [r.status for r in rows] == [RECEIVED, QUARANTINED]
    assert rows[1].natural_key.startswith("unreadable#") and "not a number" in rows[1].last_error


def test_target_references_parse_and_anything_else_is_none():
    assert parse_ref("APBILL:CO-1") == ("APBILL", "CO-1")
    assert parse_ref("PODOCUMENT:Purchase Order:41") == ("PODOCUMENT", "Purchase Order", "41")
    assert parse_ref("APADJUSTMENT:CM-5") == ("APADJUSTMENT", "CM-5")
    assert [parse_ref(r) for r in (None, "", "APBILL:", "PODOCUMENT:Purchase Order", "ARINVOICE:1")] == [None] * 5


def test_notifications_name_each_entity_once_by_kind_and_unreadable_ones_name_nothing():
    def note(n: int, body: bytes) -> Claimed:
        return Claimed(id=n, doc_type="order", partner="", natural_key=f"e{n}", source_ref="adobe-webhook",
                       raw_payload=body, target_ref=None, idempotency_key=f"k{n}", attempts=0)

    claimed = [note(1, b'{"kind": "orders", "ids": [7, 3]}'), note(2, b'{"kind": "orders", "ids": ["3"]}'),
               note(3, b'{"kind": "creditmemos", "ids": [5]}'), note(4, b"not json"), note(5, b"[1, 2]")]
    assert named_entities(claimed) == {"orders": ["3", "7"], "creditmemos": ["5"]}


VENDOR = nested({"VENDORID": "VC-3", "NAME": "Doe Supplies (old name)", "STATUS": "active",
                 "DISPLAYCONTACT.EMAIL1": "jdoe@example.com", "DISPLAYCONTACT.FIRSTNAME": "Jane",
                 "DISPLAYCONTACT.LASTNAME": "Doe", "DISPLAYCONTACT.PHONE1": "512-555-1111",
                 "COMMERCE_CUSTOMER_ID": "3"})


def test_a_pair_records_each_conflict_and_commerce_masters_the_name_while_intacct_keeps_its_status():
    assert VENDOR["DISPLAYCONTACT"]["EMAIL1"] == "jdoe@example.com"  # dotted keys nested
    aligned = align(Pair("3", "VC-3", doc("customer.json"), VENDOR), COMMERCE)
    assert aligned.rows and all(r.status == SKIPPED and r.error_class == "conflict" for r in aligned.rows)
    assert all(r.natural_key.startswith("VC-3:") for r in aligned.rows)
    [name] = [r for r in aligned.rows if r.natural_key.startswith("VC-3:name:")]
    assert "commerce wins (master)" in name.last_error
    assert aligned.vendor is not None and aligned.vendor.name == "Doe Supplies LLC"
    assert aligned.vendor.status == "active" and aligned.vendor.vendor_id == "VC-3"
    assert aligned.customer is None  # Commerce masters every contact field in the demo rule
    again = align(Pair("3", "VC-3", doc("customer.json"), VENDOR), COMMERCE)
    assert [r.natural_key for r in again.rows] == [r.natural_key for r in aligned.rows]  # recorded once
    assert update_controlid(again.vendor) == update_controlid(aligned.vendor)  # a retry is "already done"


def test_a_pair_with_bad_data_is_a_bad_document():
    try:
        align(Pair("3", "VC-3", doc("bad_customer_missing_email.json"), VENDOR), COMMERCE)
    except BadDocument:
        return
    raise AssertionError("a customer without an email aligned")


def test_vendors_carrying_a_commerce_id_without_a_link_are_adoptable_once():
    vendors = {"V-1": {"COMMERCE_CUSTOMER_ID": "8"}, "V-2": {"COMMERCE_CUSTOMER_ID": "9"},
               "V-3": {"COMMERCE_CUSTOMER_ID": "not-an-id"}, "V-4": {}, "VC-5": {"COMMERCE_CUSTOMER_ID": "5"}}
    links = {"5": "VC-5", "9": "V-OTHER"}  # 9 is linked to another vendor already
    assert adoptable(vendors, links, "COMMERCE_CUSTOMER_ID") == {"8": "V-1"}


def _planned(kind: str, entity: dict, order: dict, vendor: str = "V1"):
    return plan(read_envelope(envelope(kind, entity, order)), COMMERCE, vendor, "key-1")


def test_every_content_carries_its_updated_at_as_version_and_a_canceled_invoice_or_memo_cancels():
    order = doc("order_processing.json")
    assert (source_effect("order", order), source_version(order)) == ("create", order["updated_at"])
    assert source_effect("order", {**order, "state": "holded"}) == "create"  # on hold: no change in Intacct
    assert source_effect("invoice", {**doc("invoice_paid.json"), "state": 3}) == "cancel"
    assert source_effect("creditmemo", {**doc("creditmemo.json"), "state": 2}) == "create"
    assert source_version({"updated_at": ""}) is None
    po = doc("order_b2b_po.json")
    canceled_po = {**po, "state": "canceled"}
    assert entity_row("order", canceled_po, canceled_po, COMMERCE).target_ref.startswith("PODOCUMENT:")


def test_a_change_that_maps_to_the_same_write_is_unchanged_and_a_changed_bill_is_updated_in_its_entity():
    order = doc("order_processing.json")
    held = _planned("order", order, order)
    status_only = {**order, "status": "complete", "updated_at": "2030-01-01 00:00:00", "total_refunded": 5}
    assert isinstance(revision_write("update", held.target_ref, "US01", _planned("order", status_only, status_only),
                                     held), Unchanged)
    items = [dict(order["items"][0], qty_ordered=order["items"][0]["qty_ordered"] + 1, row_total=None)]
    grand = Decimal(str(order["grand_total"])) + Decimal(str(order["items"][0]["price"]))
    edited = {**order, "items": items + order["items"][1:], "grand_total": str(grand)}
    change = revision_write("update", held.target_ref, "US01", _planned("order", edited, edited), held)
    assert isinstance(change, BillChange) and (change.effect, change.entity, change.record_id) == (
        "update", "US01", "CO-000000003")
    assert change.bill is not None and change.bill.total == grand
    cancel = revision_write("cancel", held.target_ref, "US01", None, None)
    assert (cancel.effect, cancel.record_id, cancel.bill) == ("cancel", "CO-000000003", None)


def test_a_purchase_order_or_adjustment_that_changed_or_was_cancelled_needs_a_person_with_the_reason():
    po = doc("order_b2b_po.json")
    held = _planned("order", po, po)
    changed = {**po, "shipping_amount": 1, "grand_total": str(Decimal(str(po["grand_total"])) + 1)}
    with pytest.raises(NeedsPerson, match=f"purchase order {po['increment_id']} .* changed in Commerce"):
        revision_write("update", held.target_ref, "US01", _planned("order", changed, changed), held)
    with pytest.raises(NeedsPerson, match="cancel that PO document in Intacct by hand"):
        revision_write("cancel", held.target_ref, "US01", None, None)
    with pytest.raises(NeedsPerson, match="credit memo CM-000000005 was cancelled .* reverse AP adjustment"):
        revision_write("cancel", "APADJUSTMENT:CM-000000005", "US01", None, None)


def test_a_posted_document_read_again_with_the_same_write_is_a_plain_re_read_and_a_changed_one_a_revision():
    order = doc("order_processing.json")
    posted = entity_row("order", order, order, COMMERCE)
    held = {("order", "3"): SimpleNamespace(status="posted", raw_payload=posted.raw_payload)}
    complete = {**order, "state": "complete", "status": "complete", "updated_at": "2030-01-01 00:00:00"}
    [same] = unchanged_as_duplicates([entity_row("order", complete, complete, COMMERCE)], held, COMMERCE)
    assert (same.effect, same.source_version) == (None, None)
    canceled = {**order, "state": "canceled", "updated_at": "2030-01-01 00:00:00"}
    [cancel] = unchanged_as_duplicates([entity_row("order", canceled, canceled, COMMERCE)], held, COMMERCE)
    assert cancel.effect == "cancel"
    quarantined = {("order", "3"): SimpleNamespace(status="quarantined", raw_payload=posted.raw_payload)}
    [kept] = unchanged_as_duplicates([entity_row("order", complete, complete, COMMERCE)], quarantined, COMMERCE)
    assert kept.effect == "create"
