"""Adobe Commerce JSON -> Intacct models and rendered function bodies, against golden files
(UPDATE_GOLDEN=1 rewrites them after a deliberate change; review the diff like code).

Each golden file holds the entity the document routes to, the model (JSON) and the exact
``<function>`` body the client would send.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lxml import etree

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.intacct import functions, functions_ap, functions_ar, functions_inventory, functions_parties
from ml_connector.mappings import commerce_o2c_customers as customers
from ml_connector.mappings import commerce_to_intacct_ap as ap
from ml_connector.mappings import commerce_to_intacct_o2c as o2c
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures"
COMMERCE = load_tenant(Path(__file__).parents[2] / "tenants" / "demo-commerce.yaml").commerce


def doc(name: str) -> dict:
    return json.loads((FIXTURES / "commerce" / name).read_text())


def rendered(entity, model, builder) -> dict:
    return {"entity": entity, "model": model.model_dump(mode="json"),
            "xml": builder("golden-1", model).body.decode()}


CASES = {
    "order_to_apbill": lambda: rendered(
        "US01", ap.order_to_apbill(doc("order_processing.json"), COMMERCE, "VC-3"), functions.bill_function),
    "invoice_to_apbill": lambda: rendered(
        "US01", ap.invoice_to_apbill(doc("invoice_paid.json"), COMMERCE, "VC-3", "000000003"), functions.bill_function),
    "b2b_order_to_potransaction": lambda: rendered(
        o2c.entity_for(doc("order_b2b_po.json"), COMMERCE),
        ap.order_to_potransaction(doc("order_b2b_po.json"), COMMERCE, "VC-17"), functions_ap.potransaction_function),
    "creditmemo_to_apadjustment": lambda: rendered(
        "US01", ap.creditmemo_to_apadjustment(doc("creditmemo.json"), COMMERCE, "VC-3", "CO-000000003"),
        functions_ap.apadjustment_function),
    "creditmemo_with_fee_to_apadjustment": lambda: rendered(
        "US01", ap.creditmemo_to_apadjustment(doc("creditmemo_with_fee.json"), COMMERCE, "VC-3", "CO-000000003"),
        functions_ap.apadjustment_function),
    "customer_to_vendor": lambda: rendered(
        "US01", ap.customer_to_vendor(doc("customer.json"), COMMERCE), functions_parties.vendor_create_function),
    "order_to_ar_invoice": lambda: rendered(
        o2c.entity_for(doc("order_processing.json"), COMMERCE),
        o2c.order_to_ar_invoice(doc("order_processing.json"), COMMERCE), functions_ar.invoice_function),
    "eu_order_to_ar_invoice": lambda: rendered(
        o2c.entity_for(doc("order_eu_store.json"), COMMERCE),
        o2c.order_to_ar_invoice(doc("order_eu_store.json"), COMMERCE), functions_ar.invoice_function),
    "guest_order_to_ar_invoice": lambda: rendered(
        "US01", o2c.order_to_ar_invoice(doc("order_guest.json"), COMMERCE), functions_ar.invoice_function),
    "control_chars_order_to_ar_invoice": lambda: rendered(
        "US01", o2c.order_to_ar_invoice(doc("order_control_chars.json"), COMMERCE), functions_ar.invoice_function),
    "paid_invoice_to_ar_payment": lambda: rendered(
        "US01", o2c.invoice_to_ar_payment(doc("invoice_paid.json"), doc("order_processing.json"), COMMERCE, "3086"),
        functions_ar.arpayment_function),
    "creditmemo_to_ar_adjustment": lambda: rendered(
        "US01", o2c.creditmemo_to_ar_adjustment(doc("creditmemo.json"), COMMERCE, "CC-3", "CO-000000003"),
        functions_ar.aradjustment_function),
    "customer_to_intacct_customer": lambda: rendered(
        "US01", customers.customer_to_intacct(doc("customer.json"), COMMERCE), functions_parties.customer_create_function),
    "linked_customer_to_intacct_customer": lambda: rendered(
        "US01", customers.customer_to_intacct(doc("customer_linked.json"), COMMERCE),
        functions_parties.customer_update_function),
    "hostile_customer_to_intacct_customer": lambda: rendered(
        "US01", customers.customer_to_intacct(doc("customer_hostile.json"), COMMERCE),
        functions_parties.customer_create_function),
    "product_to_item": lambda: rendered(
        None, o2c.product_to_item(doc("product_simple.json"), COMMERCE), functions_inventory.item_function),
    "disabled_virtual_product_to_item": lambda: rendered(
        None, o2c.product_to_item(doc("product_disabled_virtual.json"), COMMERCE), functions_inventory.item_function),
    "shipment_to_ictransaction": lambda: rendered(
        o2c.entity_for(doc("shipment.json"), COMMERCE),
        o2c.shipment_to_ictransaction(doc("shipment.json"), COMMERCE, "000000003"),
        functions_inventory.ictransaction_function),
    "eu_shipment_to_ictransaction": lambda: rendered(
        o2c.entity_for(doc("shipment_eu.json"), COMMERCE),
        o2c.shipment_to_ictransaction(doc("shipment_eu.json"), COMMERCE), functions_inventory.ictransaction_function),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mapping_matches_golden(case):
    golden = FIXTURES / "golden" / "commerce" / f"{case}.json"
    got = CASES[case]()
    etree.fromstring(got["xml"].encode())  # well-formed, control characters gone
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert got == json.loads(golden.read_text())


BAD = [
    ("bad_order_missing_email.json", lambda d: ap.match_vendor(d, COMMERCE, lambda by, v: []), "missing-field"),
    ("bad_order_unknown_store.json", lambda d: o2c.order_to_ar_invoice(d, COMMERCE), "unknown-store"),
    ("bad_order_unknown_store.json", lambda d: ap.order_to_apbill(d, COMMERCE, "VC-3"), "unknown-store"),
    ("bad_order_wrong_types.json", lambda d: o2c.order_to_ar_invoice(d, COMMERCE), "wrong-type"),
    ("bad_order_items_not_list.json", lambda d: ap.order_to_apbill(d, COMMERCE, "VC-3"), "wrong-type"),
    ("bad_order_sql_email.json", lambda d: ap.match_vendor(d, COMMERCE, lambda by, v: []), "bad-email"),
    ("bad_order_totals_mismatch.json", lambda d: o2c.order_to_ar_invoice(d, COMMERCE), "totals-mismatch"),
    ("bad_customer_missing_email.json", lambda d: customers.customer_to_intacct(d, COMMERCE), "missing-field"),
    ("order_pending.json", lambda d: o2c.order_to_ar_invoice(d, COMMERCE), "not-invoiceable"),
    ("order_processing.json", lambda d: ap.order_to_potransaction(d, COMMERCE, "VC-3"), "not-a-po"),
    ("invoice_open.json", lambda d: o2c.invoice_to_ar_payment(d, doc("order_processing.json"), COMMERCE, "1"),
     "not-paid"),
    ("invoice_paid.json", lambda d: o2c.invoice_to_ar_payment(d, doc("order_processing.json"), COMMERCE, ""),
     "no-invoice"),
    ("product_configurable.json", lambda d: o2c.product_to_item(d, COMMERCE), "unmapped-type"),
]


@pytest.mark.parametrize("name,call,code", BAD, ids=[f"{n}-{c}" for n, _, c in BAD])
def test_bad_input_is_a_one_line_bad_document(name, call, code):
    with pytest.raises(BadDocument) as err:
        call(doc(name))
    assert err.value.code == code
    assert "\n" not in str(err.value) and len(err.value.message) <= 300


@pytest.mark.parametrize("value", [None, [], "order", 3])
def test_non_object_documents_are_rejected(value):
    with pytest.raises(BadDocument) as err:
        o2c.order_to_ar_invoice(value, COMMERCE)
    assert err.value.code in ("wrong-type", "not-invoiceable")


def test_guest_order_without_guest_customer_is_rejected():
    commerce = COMMERCE.model_copy(update={"o2c": COMMERCE.o2c.model_copy(update={"guest_customer_id": None})})
    with pytest.raises(BadDocument, match="guest order") as err:
        o2c.order_to_ar_invoice(doc("order_guest.json"), commerce)
    assert err.value.code == "guest"


def test_entity_routing_by_store_and_website():
    order = doc("order_processing.json")
    routed = {store_id: o2c.entity_for({**order, "store_id": store_id}, COMMERCE) for store_id in (1, 2, 3, 4)}
    assert routed == {1: "US01", 2: "US01", 3: "EU01", 4: "EU01"}
    invoice = o2c.order_to_ar_invoice(doc("order_eu_store.json"), COMMERCE)
    assert {line.location_id for line in invoice.lines} == {"EU01"} and invoice.currency == "EUR"
    with pytest.raises(BadDocument, match="store_id 9 is not mapped"):
        o2c.entity_for({**order, "store_id": 9}, COMMERCE)


def test_ar_invoice_carries_the_commerce_entity_id_and_adds_up():
    invoice = o2c.order_to_ar_invoice(doc("order_processing.json"), COMMERCE)
    assert invoice.custom == {"COMMERCE_ENTITY_ID": "3"}
    assert invoice.total == invoice.total.quantize(invoice.total.__class__("0.01")) and str(invoice.total) == "162.20"
    # the configurable's child (price 0, parent_item_id) is not billed twice
    assert [line.item_id for line in invoice.lines if line.item_id] == ["WS12-M-Orange", "24-MB01"]


def test_vendor_matching_tries_email_then_commerce_id():
    calls = []

    def find(by, value):
        calls.append((by, value))
        return [{"VENDORID": "V-OLD", "RECORDNO": "7"}] if by == "COMMERCE_CUSTOMER_ID" else []

    assert ap.match_vendor(doc("order_processing.json"), COMMERCE, find) == "V-OLD"
    assert calls == [("email", "jdoe@example.com"), ("COMMERCE_CUSTOMER_ID", "3")]
    assert ap.match_vendor(doc("customer.json"), COMMERCE, lambda by, v: []) is None
    assert ap.vendor_id_for(3, COMMERCE) == "VC-3"


def test_b2b_order_routes_to_a_purchase_order():
    assert ap.is_purchase_order(doc("order_b2b_po.json")) and not ap.is_purchase_order(doc("order_processing.json"))
    po = ap.order_to_potransaction(doc("order_b2b_po.json"), COMMERCE, "VC-17")
    assert (po.reference_no, po.document_no, po.lines[-1].item_id) == ("NW-PO-7781", "000000041", "SHIP-FREIGHT")
