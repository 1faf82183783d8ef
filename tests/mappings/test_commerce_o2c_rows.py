"""Order to cash rules, without a ledger or an emulator: what a Commerce entity becomes in the
ledger (mappings/commerce_o2c_rows.py) and what a document waits for before it posts
(mappings/commerce_o2c_plan.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_connector.connectors.adobe import Reject
from ml_connector.connectors.errors import BadDocument
from ml_connector.ledger.schema import POSTED, QUARANTINED, RECEIVED, SKIPPED
from ml_connector.ledger.store import Claimed, payload_hash
from ml_connector.mappings import commerce_o2c_rows as rows
from ml_connector.mappings.commerce_common import billable_items
from ml_connector.mappings.commerce_o2c_plan import (
    Links,
    Reversal,
    Unchanged,
    blocker,
    invoice_revision,
    plan,
    reversal_blocker,
)
from ml_connector.mappings.intacct_bill_revisions import NeedsPerson
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures" / "commerce"
COMMERCE = load_tenant(Path(__file__).parents[2] / "tenants" / "demo-commerce.yaml").commerce


def doc(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def skus_of(order: dict) -> set[str]:
    return {i["sku"] for i in billable_items(order, "order")}


def row_of(doc_type: str, entity: dict, known: set[str] | None = None):
    return rows.entity_row(doc_type, entity, rows.dumps(entity), COMMERCE, known)


def test_an_invoiceable_order_is_a_document_numbered_as_its_ar_invoice():
    order = doc("order_processing.json")
    row = row_of("order", order, skus_of(order))
    assert (row.doc_type, row.natural_key, row.status) == ("order", "3", RECEIVED)
    assert row.target_ref == "CO-000000003" and row.doc_date == "2024-05-01"
    assert json.loads(row.raw_payload)["increment_id"] == "000000003"


def test_an_order_not_invoiceable_yet_is_no_document_unless_it_could_never_post():
    pending = {**doc("order_processing.json"), "state": "new"}
    assert row_of("order", pending) is None
    never = row_of("order", {**pending, "store_id": 9})  # reported now, not at capture
    assert never.status == QUARANTINED and "store_id 9 is not mapped" in never.last_error


@pytest.mark.parametrize(("invoiced", "documented"), [
    ("162.20", True), (162.2, True), ("0.01", True), ("0.00", False), (0, False), (None, False),
    ("lots", False), (True, False),
])
def test_a_closed_order_is_invoiced_as_it_was_when_commerce_invoiced_money(invoiced, documented):
    closed = {**doc("order_processing.json"), "state": "closed", "total_invoiced": invoiced}
    assert rows.was_invoiced(closed) is documented
    row = row_of("order", closed)
    assert (row is not None and row.status == RECEIVED) is documented
    if documented:  # mapped in the first invoiceable state; the refund comes as a credit memo
        assert rows.as_invoiceable(closed, COMMERCE)["state"] == "processing"


def test_an_order_naming_a_sku_that_is_no_item_is_quarantined_with_the_sku():
    order = doc("order_processing.json")
    missing = sorted(skus_of(order))[0]
    row = row_of("order", order, skus_of(order) - {missing})
    assert row.status == QUARANTINED and missing in row.last_error and "\n" not in row.last_error
    assert row_of("order", order, None).status == RECEIVED  # not checked: every SKU may be named


def test_products_paid_invoices_and_credit_memos():
    item = row_of("item", doc("product_simple.json"))
    assert item.status == RECEIVED and item.target_ref == item.natural_key
    assert row_of("item", doc("product_configurable.json")).status == SKIPPED  # its children are the stock
    assert row_of("payment", doc("invoice_open.json")) is None  # waits for its capture
    assert row_of("payment", doc("invoice_paid.json")).status == RECEIVED
    memo = doc("creditmemo.json")
    assert row_of("creditmemo", memo).target_ref
    assert row_of("creditmemo", {**memo, "state": rows.CREDITMEMO_CANCELED}) is None


def test_a_page_counts_what_is_no_document_yet_and_quarantines_its_rejects_raw():
    unreadable = {"entity_id": "x", "grand_total": "lots"}
    page = SimpleNamespace(items=[doc("invoice_open.json"), doc("invoice_paid.json")],
                           rejects=[Reject("77", unreadable, BadDocument("grand_total is not a number"))])
    seen = rows.Seen()
    made = rows.page_rows("payment", page, COMMERCE, None, seen)
    assert (seen.not_yet, seen.rejects) == (1, 1)
    assert [(r.natural_key, r.status) for r in made] == [("12", RECEIVED), ("77", QUARANTINED)]
    assert json.loads(made[1].raw_payload) == unreadable


def test_only_products_that_become_items_are_skus_orders_may_name():
    made = [row_of("item", doc("product_simple.json")), row_of("item", doc("product_configurable.json"))]
    assert rows.item_skus(made) == {made[0].natural_key}


def test_a_linked_customer_changed_in_commerce_is_found_by_its_stored_payload():
    customer = doc("customer.json")
    row = row_of("customer", customer)
    same = SimpleNamespace(id=1, natural_key=row.natural_key, payload_hash=payload_hash(row.raw_payload))
    older = SimpleNamespace(id=2, natural_key=row.natural_key, payload_hash=payload_hash(b"{}"))
    other = SimpleNamespace(id=3, natural_key="999", payload_hash=payload_hash(b"{}"))
    assert rows.changed_linked([row], [same, other]) == []
    assert rows.changed_linked([row], [older, other]) == [(2, row.raw_payload)]


def _ledger_row(doc_type: str, key: str, status: str, **fields):
    return SimpleNamespace(doc_type=doc_type, natural_key=key, status=status, target_id=fields.get("target_id"),
                           target_ref=fields.get("target_ref"), last_error=fields.get("last_error"))


def test_a_payment_and_a_credit_memo_wait_for_the_ar_invoice_of_their_order():
    payment, memo = doc("invoice_paid.json"), doc("creditmemo.json")
    unread = Links.of([])
    assert "waits for its order 3 to be read" in blocker("payment", payment, unread, COMMERCE)
    failed = Links.of([_ledger_row("order", "3", "failed", target_ref="CO-000000003", last_error="Invalid Customer")])
    reason = blocker("creditmemo", memo, failed, COMMERCE)
    assert "credit memo waits for AR invoice CO-000000003" in reason and "Invalid Customer" in reason
    posted = Links.of([_ledger_row("order", "3", POSTED, target_id="3086", target_ref="CO-000000003")])
    assert blocker("payment", payment, posted, COMMERCE) is None


def test_an_order_waits_for_its_customer_and_a_shipment_for_its_items():
    order = doc("order_processing.json")
    assert "waiting for customer 3" in blocker("order", order, Links.of([]), COMMERCE)
    linked = Links.of([_ledger_row("customer", "3", POSTED, target_id="C-3")])
    assert blocker("order", order, linked, COMMERCE) is None
    assert blocker("order", doc("order_guest.json"), Links.of([]), COMMERCE) is None  # the guest customer
    shipment = doc("shipment.json")
    sku = shipment["items"][0]["sku"]
    assert sku in blocker("shipment", shipment, Links.of([_ledger_row("item", sku, RECEIVED)]), COMMERCE)
    assert blocker("shipment", shipment, Links.of([_ledger_row("item", sku, POSTED)]), COMMERCE) is None


def test_an_intacct_created_customer_becomes_a_commerce_customer_in_its_entitys_website():
    from ml_connector.mappings import commerce_o2c_customers as customers

    record = customers.nest({"CUSTOMERID": "C-9001", "NAME": "Ana Alvarez", "MEGAENTITYID": "EU01",
                             "DISPLAYCONTACT.EMAIL1": "ana@example.com", "DISPLAYCONTACT.MAILADDRESS.CITY": "Madrid"})
    assert record["DISPLAYCONTACT"]["MAILADDRESS"] == {"CITY": "Madrid"}
    body = customers.new_commerce_customer(record, COMMERCE)
    assert (body["firstname"], body["lastname"], body["website_id"]) == ("Ana", "Alvarez", 3)
    assert body["custom_attributes"] == [{"attribute_code": COMMERCE.o2c.customer_id_attribute, "value": "C-9001"}]
    assert customers.website_for({"MEGAENTITYID": "ZZ99"}, COMMERCE) == 1  # no website of its own: the first
    no_email = {k: v for k, v in record.items() if k != "DISPLAYCONTACT"}
    with pytest.raises(BadDocument, match="C-9001 has no email"):
        customers.new_commerce_customer(no_email, COMMERCE)


def test_each_distinct_conflict_decision_is_one_skipped_row():
    from ml_connector.mappings import commerce_o2c_customers as customers
    from ml_connector.mappings.commerce_parties import FieldConflict

    name = FieldConflict("name", "ANA ALVAREZ", "Ana Alvarez", "commerce", "master")
    made = customers.conflict_rows("C-9001", [name, name, FieldConflict("phone", "1", "2", "intacct", "newer")])
    assert [r.status for r in made] == [SKIPPED] * 3 and made[0].natural_key == made[1].natural_key
    assert made[0].natural_key != made[2].natural_key and "ANA ALVAREZ" in made[0].last_error


def test_an_order_carries_its_updated_at_and_a_canceled_one_is_the_cancellation_of_its_invoice():
    order = doc("order_processing.json")
    row = row_of("order", order, skus_of(order))
    assert (row.effect, row.source_version) == ("create", order["updated_at"])
    pending = {**order, "state": "new"}
    canceled = row_of("order", {**pending, "state": "canceled"})  # the ledger skips it when nothing posted
    assert (canceled.status, canceled.effect, canceled.target_ref) == (RECEIVED, "cancel", "CO-000000003")
    closed = row_of("order", {**order, "state": "closed", "total_invoiced": "162.20"}, skus_of(order))
    assert (closed.effect, closed.target_ref) == ("create", "CO-000000003")
    bad = row_of("order", {**order, "store_id": 9})
    assert (bad.status, bad.effect) == (QUARANTINED, "create")


def _planned(order: dict):
    links = Links({("customer", str(order["customer_id"])): SimpleNamespace(status=POSTED, target_id="C-3",
                                                                           target_ref="C-3")})
    claimed = Claimed(1, "order", "", str(order["entity_id"]), "order:3", rows.dumps(order), "CO-000000003", "key-1", 0)
    return plan(claimed, links, COMMERCE)


def test_an_invoice_change_is_unchanged_when_it_maps_alike_a_cancel_reverses_and_an_altered_one_needs_a_person():
    order = doc("order_processing.json")
    held = _planned(order)
    later = {**order, "state": "complete", "status": "complete", "updated_at": "2031-01-01 00:00:00"}
    assert isinstance(invoice_revision("update", "CO-000000003", _planned(later), held), Unchanged)
    cancel = invoice_revision("cancel", "CO-000000003", None, held)
    assert cancel == Reversal(held.entity, "CO-000000003")
    grand = Decimal(str(order["grand_total"])) + Decimal(str(order["shipping_amount"]))
    altered = {**order, "shipping_amount": str(Decimal(str(order["shipping_amount"])) * 2), "grand_total": str(grand)}
    with pytest.raises(NeedsPerson, match="AR invoice CO-000000003: its order changed in Commerce"):
        invoice_revision("update", "CO-000000003", _planned(altered), held)
    with pytest.raises(NeedsPerson):  # nothing known of what Intacct holds: a person looks
        invoice_revision("update", "CO-000000003", _planned(later), None)


def test_a_paid_invoice_cannot_be_reversed_and_a_reversed_or_missing_one_needs_nothing():
    reason = reversal_blocker({"RECORDNO": "77", "STATE": "Paid", "TOTALPAID": "10.00"}, "CO-1")
    assert reason.startswith("AR invoice CO-1 (RECORDNO 77) is paid (10.00)") and "\n" not in reason
    assert reversal_blocker({"RECORDNO": "77", "STATE": "Posted", "TOTALPAID": "0.00"}, "CO-1") is None
    assert reversal_blocker({"RECORDNO": "77", "STATE": "Reversed", "TOTALPAID": "0"}, "CO-1") is None
    assert reversal_blocker(None, "CO-1") is None


def test_a_posted_order_read_again_with_the_same_invoice_is_a_plain_re_read_and_a_changed_one_a_revision():
    order = doc("order_processing.json")
    posted = row_of("order", order, skus_of(order))
    held = {("order", "3"): SimpleNamespace(status=POSTED, raw_payload=posted.raw_payload)}
    commented = {**order, "status_histories": [{"comment": "Intacct invoice 77"}], "updated_at": "2031-01-01 00:00:00"}
    [same] = rows.unchanged_as_duplicates([row_of("order", commented, skus_of(order))], held, COMMERCE)
    assert (same.effect, same.source_version) == (None, None)
    grand = Decimal(str(order["grand_total"])) + Decimal(str(order["shipping_amount"]))
    altered = {**commented, "shipping_amount": str(Decimal(str(order["shipping_amount"])) * 2), "grand_total": str(grand)}
    [changed] = rows.unchanged_as_duplicates([row_of("order", altered, skus_of(order))], held, COMMERCE)
    assert (changed.effect, changed.source_version) == ("create", "2031-01-01 00:00:00")
