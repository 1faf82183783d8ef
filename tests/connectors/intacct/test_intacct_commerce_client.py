"""IntacctClient writes and lookups for the Adobe Commerce integrations, against the in-process
Intacct sandbox (a multi-entity company): per-function results in batches, entity sessions,
and Commerce fixtures mapped and posted end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_connector.connectors.errors import RejectedError
from ml_connector.connectors.intacct import functions_ap, functions_ar, functions_inventory, functions_parties
from ml_connector.mappings import commerce_o2c_customers as customers
from ml_connector.mappings import commerce_to_intacct_ap as ap
from ml_connector.mappings import commerce_to_intacct_o2c as o2c
from ml_connector.mappings.tenant import load_tenant

COMMERCE = load_tenant(Path(__file__).parents[3] / "tenants" / "demo-commerce.yaml").commerce
FIXTURES = Path(__file__).parents[2] / "fixtures" / "commerce"
SESSION = b"<getAPISession"


def doc(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def company(new_emulator, wire):
    """The demo-commerce tenant's Intacct company: entities US01/EU01, accounts, warehouses."""
    emulator = new_emulator()
    for entity in ("US01", "EU01"):
        emulator.add_entity(entity)
    for account in ("4000", "4100", "2200", "4050", "1050", "6000", "6100", "6200", "6050"):
        emulator.add_gl_account(account)
    for department in ("SALES", "PURCH", "B2B"):
        emulator.add_dimension("department", department)
    emulator.add_warehouse("WH-US", "US01")
    emulator.add_warehouse("WH-EU", "EU01")
    for object_name in ("CUSTOMER", "VENDOR"):
        emulator.add_custom_field(object_name, "COMMERCE_CUSTOMER_ID")
    emulator.add_custom_field("ARINVOICE", "COMMERCE_ENTITY_ID")
    return wire(emulator)


def test_post_functions_chunks_and_isolates_a_failed_function(company):
    company.client.max_functions = 2
    vendors = [ap.customer_to_vendor({**doc("customer.json"), "id": n, "email": f"v{n}@example.com"}, COMMERCE)
               for n in range(5)]
    functions = [functions_parties.vendor_create_function(f"vendor-{n}", v) for n, v in enumerate(vendors)]
    functions[2] = functions_parties.vendor_create_function("vendor-dup", vendors[0])  # VENDORID already taken
    results = company.client.post_functions(functions)
    assert [r.controlid for r in results] == [f.controlid for f in functions]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert isinstance(results[2].error, RejectedError)
    assert company.recorder.count(b"<create>") == 3  # 5 functions, 2 per request


def test_sessions_are_cached_per_entity(company):
    client = company.client
    for entity in ("US01", "EU01", "US01", "EU01"):
        client.find_ar_invoices(["nothing"], entity=entity)
    sessions = [body for body in company.recorder.requests if SESSION in body]
    asked = sorted(e for body in sessions for e in ("US01", "EU01") if f"<locationid>{e}</locationid>".encode() in body)
    assert asked == ["EU01", "US01"]  # one getAPISession per entity, then reused
    keys = {company.client.config.session_key_for(e) for e in ("US01", "EU01", None)}
    assert len(keys) == 3


def test_order_to_cash_end_to_end_in_the_store_entity(company):
    client, emulator = company.client, company.emulator
    customer = customers.customer_to_intacct(doc("customer.json"), COMMERCE)
    items = [o2c.product_to_item(doc("product_simple.json"), COMMERCE),
             o2c.product_to_item({**doc("product_simple.json"), "sku": "WS12-M-Orange", "name": "Radiant Tee"}, COMMERCE)]
    setup = [functions_parties.customer_create_function("customer-3", customer)]
    setup += [functions_inventory.item_function(f"item-{i.item_id}", i) for i in items]
    assert all(r.ok for r in client.post_functions(setup))

    order = doc("order_processing.json")
    entity = o2c.entity_for(order, COMMERCE)
    invoice = o2c.order_to_ar_invoice(order, COMMERCE)
    [posted] = client.post_functions([functions_ar.invoice_function("order-3", invoice)], entity=entity)
    assert posted.ok, posted.error
    keys = client.find_ar_invoices([invoice.invoice_no], entity=entity)
    assert keys == {invoice.invoice_no: posted.key}

    payment = o2c.invoice_to_ar_payment(doc("invoice_paid.json"), order, COMMERCE, keys[invoice.invoice_no])
    [paid] = client.post_functions([functions_ar.arpayment_function("invoice-12", payment)], entity=entity)
    assert paid.ok, paid.error
    [ar_invoice] = emulator.ar_invoices(entity="US01")
    assert ar_invoice["COMMERCE_ENTITY_ID"] == "3" and ar_invoice["total"] == invoice.total
    assert emulator.customer_balances(entity="US01").get("CC-3", 0) == 0
    assert emulator.top_level_writes() == []

    assert client.find_customers("email", "JDOE@example.com")[0]["CUSTOMERID"] == "CC-3"
    assert client.find_customers("COMMERCE_CUSTOMER_ID", "3")[0]["CUSTOMERID"] == "CC-3"


def test_procure_documents_post_in_their_entity(company):
    client, emulator = company.client, company.emulator
    vendor = ap.customer_to_vendor(doc("customer.json"), COMMERCE)
    assert client.post_functions([functions_parties.vendor_create_function("vendor-3", vendor)])[0].ok
    assert ap.match_vendor(doc("order_processing.json"), COMMERCE, client.find_vendors) == vendor.vendor_id

    bill = ap.order_to_apbill(doc("order_processing.json"), COMMERCE, vendor.vendor_id)
    [billed] = client.create_bills([("order-3", bill)], entity="US01")
    assert billed.ok, billed.error
    memo = ap.creditmemo_to_apadjustment(doc("creditmemo.json"), COMMERCE, vendor.vendor_id, bill.record_id)
    [adjusted] = client.post_functions([functions_ap.apadjustment_function("creditmemo-5", memo)], entity="US01")
    assert adjusted.ok, adjusted.error
    [record] = emulator.ap_adjustments(entity="US01")
    assert record["total"] == memo.total and record["entity"] == "US01"


def test_shipments_leave_the_store_warehouse(company):
    emulator = company.emulator
    for sku in ("WS12-M-Orange", "24-MB01"):
        emulator.add_item(sku, sku, on_hand={"WH-US": 10, "WH-EU": 5})
    us = o2c.shipment_to_ictransaction(doc("shipment.json"), COMMERCE, "000000003")
    eu = o2c.shipment_to_ictransaction(doc("shipment_eu.json"), COMMERCE)
    results = [company.client.post_functions([functions_inventory.ictransaction_function(f"shipment-{n}", t)],
                                             entity=o2c.entity_for(d, COMMERCE))[0]
               for n, (t, d) in enumerate([(us, doc("shipment.json")), (eu, doc("shipment_eu.json"))])]
    assert all(r.ok for r in results), [r.error for r in results]
    assert emulator.on_hand("24-MB01", "WH-US") == 7 and emulator.on_hand("24-MB01", "WH-EU") == 2
    assert {d["entity"] for d in emulator.ic_documents()} == {"US01", "EU01"}
