"""SPS <-> QuickBooks Online mappings against golden files in tests/fixtures/golden/qbo/
(UPDATE_GOLDEN=1 rewrites them after a deliberate change; review the diff like code).

* RSX orders (tests/fixtures/sps) -> the QBO PurchaseOrder wire body;
* QBO invoices (JSON as the API answers) -> RSX Invoice XML, and RSX Shipment XML for the one
  with a ship date (a QBO shipment confirmation).
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.qbo.client import dumps
from ml_connector.connectors.qbo.models import Invoice
from ml_connector.connectors.sps import rsx
from ml_connector.mappings.qbo_to_sps import is_shipment, qbo_invoice_to_rsx, qbo_shipment_to_rsx
from ml_connector.mappings.sps_to_qbo import order_to_po
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures"
GOLDEN = FIXTURES / "golden" / "qbo"
TENANT = load_tenant(GOLDEN / "tenant.yaml")

ORDERS = ["PO584616.xml", "PO584616-1-v7.7-DropShip.json", "PO_legacy_LineItems.xml"]
INVOICES = ["invoice_shipped.json", "invoice_unshipped.json"]


def check(golden: Path, got: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def invoice(name: str) -> Invoice:
    data = json.loads((GOLDEN / name).read_text())
    return Invoice.model_validate(data.get("Invoice", data))


@pytest.mark.parametrize("name", ORDERS)
def test_orders_map_to_golden_purchase_orders(name):
    content = (FIXTURES / "sps" / name).read_bytes()
    got = [json.loads(dumps(order_to_po(doc, TENANT).to_qbo())) for _, doc in rsx.parse(content, filename=name)]
    check(GOLDEN / f"{name}.purchaseorder.json", json.dumps(got, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", INVOICES)
def test_invoices_map_to_golden_rsx(name):
    check(GOLDEN / f"{name}.invoice.xml", rsx.encode_xml("invoice", [qbo_invoice_to_rsx(invoice(name), TENANT)]).decode())


def test_shipped_invoice_maps_to_golden_rsx_shipment():
    inv = invoice("invoice_shipped.json")
    assert is_shipment(inv) and not is_shipment(invoice("invoice_unshipped.json"))
    check(GOLDEN / "invoice_shipped.json.shipment.xml",
          rsx.encode_xml("shipment", [qbo_shipment_to_rsx(inv, TENANT)]).decode())


def test_shipment_carries_tracking_carrier_po_and_quantities():
    doc = qbo_shipment_to_rsx(invoice("invoice_shipped.json"), TENANT)
    h = doc.header.shipment_header
    assert (h.trading_partner_id, h.shipment_identification, h.ship_date.isoformat()) == \
        ("SPSALLTESTID", "INV-1037", "2026-11-03")
    assert h.carrier_pro_number == "1Z999AA10123456784"
    assert [(r.reference_qual, r.reference_id, r.description) for r in doc.header.references] == \
        [("CN", "1Z999AA10123456784", "UPS Ground")]
    order = doc.order_level[0].order_header
    assert (order.purchase_order_number, order.invoice_number) == ("PO584616", "INV-1037")
    lines = [(ln.buyer_part_number, ln.ship_qty) for _, ln in doc.item_lines()]
    assert lines == [("SPSBuyerItem1", Decimal("5")), ("ACME-1001", Decimal("10"))]
    # it parses back as a shipment with the same key, as SPS will read it
    [(doc_type, parsed)] = rsx.parse(rsx.encode_xml("shipment", [doc]), filename="SH_INV-1037.xml")
    assert doc_type == "shipment" and parsed.header.shipment_header.shipment_identification == "INV-1037"


def test_purchase_order_lines_use_qbo_items_or_the_expense_account():
    content = (FIXTURES / "sps" / "PO584616.xml").read_bytes()
    [(_, doc)] = rsx.parse(content, filename="PO584616.xml")
    po = order_to_po(doc, TENANT)
    assert po.vendor_ref.value == "56" and po.ap_account_ref.value == "33"
    kinds = {ln.detail_type for ln in po.line}
    assert "ItemBasedExpenseLineDetail" in kinds
    assert all(ln.amount == ln.amount.quantize(Decimal("0.01")) for ln in po.line)


@pytest.mark.parametrize("change, code", [
    ({"CustomerRef": {"value": "999"}}, "unknown-customer"),
    ({"Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "404"}, "Qty": 1}}]}, "unknown-item"),
    ({"Line": []}, "empty"),
])
def test_bad_invoices_are_refused_with_a_one_line_reason(change, code):
    data = json.loads((GOLDEN / "invoice_shipped.json").read_text())["Invoice"] | change
    inv = Invoice.model_validate(data)
    for fn in (qbo_invoice_to_rsx, qbo_shipment_to_rsx):
        with pytest.raises(BadDocument) as err:
            fn(inv, TENANT)
        assert err.value.code == code and "\n" not in str(err.value)


def test_an_unshipped_invoice_is_not_a_shipment():
    with pytest.raises(BadDocument, match="no ShipDate") as err:
        qbo_shipment_to_rsx(invoice("invoice_unshipped.json"), TENANT)
    assert err.value.code == "not-shipped"
