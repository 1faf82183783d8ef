"""Intacct inventory shipper -> RSX Shipment: read back from the record, the partner of its one
customer, the lines with the partner's identifiers, and the reasons a shipper is refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.mappings.intacct_shipments import (
    shipper_customer,
    shipper_from_record,
    shipper_to_rsx,
    shipper_version,
)
from ml_connector.mappings.tenant import load_tenant, tenant_path


@pytest.fixture(scope="module")
def demo():
    return load_tenant(tenant_path("demo"))


def record(customers: list[str | None], **fields) -> dict:
    lines = [{"ITEMID": "WID-100", "QUANTITY": "6", "WAREHOUSEID": "WH1", "CUSTOMERID": c or ""} for c in customers]
    return {"RECORDNO": "41", "DOCID": "Inventory Shipper-3", "STATE": "Pending", "WHENCREATED": "11/05/2026",
            "WHENMODIFIED": "11/05/2026 14:22:14", "PONUMBER": "CPO-7", "INVDOCUMENTENTRIES": lines} | fields


def test_a_shipper_is_read_back_with_its_lines(demo):
    ship = shipper_from_record(record(["C1"]))
    assert (ship.doc_id, ship.when_created, ship.po_number) == ("Inventory Shipper-3", date(2026, 11, 5), "CPO-7")
    assert [(x.item_id, x.quantity, x.customer_id) for x in ship.lines] == [("WID-100", Decimal(6), "C1")]
    assert shipper_version(ship) == "2026-11-05T14:22:14.000000"


def test_one_line_rendered_as_a_single_entry_is_a_line_too():
    rec = record(["C1"])
    rec["INVDOCUMENTENTRIES"] = rec["INVDOCUMENTENTRIES"][0]
    assert len(shipper_from_record(rec).lines) == 1


def test_an_unreadable_record_names_it():
    with pytest.raises(BadDocument, match="unreadable INVDOCUMENT 41"):
        shipper_from_record(record(["C1"], WHENCREATED="yesterday"))


def test_the_shipment_goes_to_the_partner_of_its_one_customer(demo):
    partner, spec = next((p, s) for p, s in demo.partners.items() if s.customer_id)
    item = next(x for x in demo.items if x.item_id == "WID-100")
    shipment = shipper_to_rsx(shipper_from_record(record([spec.customer_id])), demo)
    header = shipment.header.shipment_header
    assert (header.trading_partner_id, header.shipment_identification, header.ship_date) == (
        partner, "Inventory Shipper-3", date(2026, 11, 5))
    [(order, line)] = shipment.item_lines()
    assert order.order_header.purchase_order_number == "CPO-7"
    assert (line.vendor_part_number, line.buyer_part_number, line.ship_qty) == ("WID-100", item.buyer_part, 6)


@pytest.mark.parametrize("customers,reason", [([None], "name none as customer"),
                                              (["C1", "C2"], "name C1, C2 as customer")])
def test_a_shipper_without_exactly_one_customer_is_refused(customers, reason):
    with pytest.raises(BadDocument, match=reason):
        shipper_customer(shipper_from_record(record(customers)))


def test_a_customer_no_partner_claims_is_refused(demo):
    with pytest.raises(BadDocument, match="'NOBODY' is not mapped to a trading partner"):
        shipper_to_rsx(shipper_from_record(record(["NOBODY"])), demo)
