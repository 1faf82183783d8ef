"""The RSX codec against real-shaped fixtures: every line level, both forms, round trips."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ml_connector.connectors.sps import rsx
from ml_connector.connectors.sps.models import (
    Note,
    OrderDocHeader,
    OrderHeader,
    OrderLine,
    OrderLineItem,
    RsxInvoice,
    RsxOrder,
    RsxOrderAck,
    RsxShipment,
    Summary,
    natural_key,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sps"
NS = {"r": rsx.RSX_NS}


def load(name: str) -> list[tuple[str, object]]:
    return rsx.parse((FIXTURES / name).read_bytes(), filename=name)


def test_xml_order_from_the_reference_sheet():
    [(doc_type, order)] = load("PO584616.xml")
    assert doc_type == "order" and isinstance(order, RsxOrder)
    h = order.header.order_header
    assert (h.trading_partner_id, h.purchase_order_number, h.purchase_order_date) == (
        "SPSALLTESTID", "PO584616", date(2020, 12, 1))
    assert h.primary_p_o_type_code == "SA" and h.vendor == "VEND6174"
    assert [d.date for d in order.header.dates] == [date(2020, 12, 15)]
    assert order.header.address[0].city == "Minneapolis"
    [line] = order.line_item  # one LineItem in XML is still a list
    assert line.order_line.order_qty == Decimal("5") and line.order_line.purchase_price == Decimal("20.00")
    assert line.order_line.consumer_package_code == "859563003863"
    assert order.summary.total_amount == Decimal("100.00") and order.summary.total_line_item_number == 1


def test_json_order_dropship_sample():
    [(doc_type, order)] = load("PO584616-1-v7.7-DropShip.json")
    assert doc_type == "order"
    assert order.header.payment_terms[0].terms_discount_percentage == Decimal("2.0")
    assert order.header.payment_terms[0].terms_net_due_days == 31
    assert [a.address_type_code for a in order.header.address] == ["BT", "ST"]
    assert order.header.references[0].reference_id == "5987-1"
    line = order.line_item[0]
    assert line.order_line.gtin == "00859563003863"
    assert line.product_or_item_description[0].product_description == "Sample Description1"
    assert isinstance(line.order_line.order_qty, Decimal)


def test_json_orderack_sample_is_told_from_an_order():
    [(doc_type, ack)] = load("PR584616-1-v7.7-DropShip_AllAccept_With_Change.json")
    assert doc_type == "orderack" and isinstance(ack, RsxOrderAck)
    assert ack.header.order_header.acknowledgement_type == "AC"
    assert ack.line_item[0].line_item_acknowledgement[0].item_status_code == "IA"


def test_json_shipment_sample_nests_order_pack_item():
    [(doc_type, asn)] = load("SH584616-1-v7.7-DropShip.json")
    assert doc_type == "shipment" and isinstance(asn, RsxShipment)
    assert asn.header.shipment_header.a_s_n_structure_code == "0001"
    pack = asn.order_level[0].pack_level[0]
    assert pack.pack.shipping_serial_i_d == "00007774760000006929"
    assert pack.item_level[0].shipment_line.ship_qty == Decimal("1.0")


def test_json_invoice_with_terms_charges_and_meta():
    [(doc_type, inv)] = load("IN584616-1-v7.7-DropShip.json")
    assert doc_type == "invoice" and isinstance(inv, RsxInvoice)
    assert inv.meta.is_drop_ship is True and inv.meta.version == "7.7"
    assert [(c.allow_chrg_indicator, c.allow_chrg_amt) for c in inv.header.charges_allowances] == [
        ("C", Decimal("4.50")), ("A", Decimal("1.00"))]
    assert inv.summary.total_amount == Decimal("19.38")
    assert natural_key(doc_type, inv) == ("SPSALLTESTID", "IN584616-1")


def test_xml_shipment_with_two_order_levels_packs_and_loose_items():
    [(_, asn)] = load("SH100200-multi-order.xml")
    assert [o.order_header.purchase_order_number for o in asn.order_level] == ["PO770012", "PO770019"]
    assert [len(p.item_level) for p in asn.order_level[0].pack_level] == [1, 2]
    assert asn.order_level[1].pack_level == [] and len(asn.order_level[1].item_level) == 1
    lines = asn.item_lines()
    assert [line.ship_qty for _, line in lines] == [Decimal("6"), Decimal("6"), Decimal("3"), Decimal("1.5")]
    assert asn.order_level[0].pack_level[1].item_level[1].product_or_item_description[0].product_description


def test_xml_invoice_lines_and_charges():
    [(_, inv)] = load("IN300001.xml")
    assert [li.invoice_line.extended_item_total for li in inv.line_item] == [Decimal("51.00"), Decimal("119.70")]
    assert inv.header.payment_terms[0].terms_discount_percentage == Decimal("1.5")
    assert {c.allow_chrg_indicator for c in inv.header.charges_allowances} == {"A", "C"}


def test_multi_document_plural_file_keeps_order():
    docs = load("PO_multi_3orders.xml")
    assert [natural_key(t, d)[1] for t, d in docs] == ["PO900001", "PO900002", "PO900003"]
    second = docs[1][1]
    assert second.line_item[0].product_or_item_description[0].product_description == "Hand drill, 20 V & case"
    assert second.line_item[0].order_line.purchase_price == Decimal("19.995")
    assert second.line_item[1].charges_allowances[0].allow_chrg_amt == Decimal("25.00")
    assert docs[2][1].line_item[0].order_line.line_sequence_number == "01"  # codes stay strings


def test_legacy_lineitems_wrapper_and_note_field_are_tolerated():
    [(_, order)] = load("PO_legacy_LineItems.xml")
    assert [li.order_line.vendor_part_number for li in order.line_item] == ["WID-100", "WID-200"]
    assert order.header.notes == [Note(note="Deliver to dock 4")]
    assert order.meta.interchange_control_number == "000000101"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_every_fixture_round_trips_through_both_forms(name):
    docs = load(name)
    for doc_type, doc in docs:
        assert rsx.parse(rsx.encode_json(doc_type, doc), filename=name) == [(doc_type, doc)]
    by_type = {t for t, _ in docs}
    assert len(by_type) == 1
    assert rsx.parse(rsx.encode_xml(by_type.pop(), [d for _, d in docs])) == docs


def small_order(**line) -> RsxOrder:
    header = OrderDocHeader(order_header=OrderHeader(
        trading_partner_id="SPSALLTESTID", purchase_order_number="PO1", purchase_order_date=date(2024, 1, 2)))
    values = dict(line_sequence_number="1", order_qty=Decimal("1"), purchase_price=Decimal("2.50")) | line
    return RsxOrder(header=header, line_item=[OrderLineItem(order_line=OrderLine(**values))])


def test_encode_xml_is_namespaced_plural_and_ordered():
    out = rsx.encode_xml("order", [small_order(), small_order()])
    assert out.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = etree.fromstring(out)
    assert root.tag == f"{{{rsx.RSX_NS}}}Orders" and len(root.findall("r:Order", NS)) == 2
    header = root.find("r:Order/r:Header", NS)
    assert etree.QName(header[0]).localname == "OrderHeader"  # the *Header block leads
    order = root.find("r:Order", NS)
    assert [etree.QName(c).localname for c in order] == ["Header", "LineItem"]  # empty Summary left out


def test_encode_writes_plain_decimals_iso_dates_and_json_numbers():
    doc = small_order(order_qty=Decimal("1E+2"), purchase_price=Decimal("0.0000001"))
    xml = rsx.encode_xml("order", [doc])
    assert b"<OrderQty>100</OrderQty>" in xml and b"<PurchasePrice>0.0000001</PurchasePrice>" in xml
    assert b"<PurchaseOrderDate>2024-01-02</PurchaseOrderDate>" in xml
    data = json.loads(rsx.encode_json("order", doc))
    line = data["LineItem"][0]["OrderLine"]
    assert line["OrderQty"] == 100 and line["PurchasePrice"] == 1e-7  # numbers, not strings
    assert b'"PurchasePrice": 0.0000001' in rsx.encode_json("order", doc)
    assert data["Header"]["OrderHeader"]["PurchaseOrderDate"] == "2024-01-02"


def test_encode_xml_strips_forbidden_control_characters():
    doc = small_order(buyer_part_number="AB\x00C\x0bD\x1fE\tF")
    xml = rsx.encode_xml("order", [doc])
    [(_, back)] = rsx.parse(xml)
    assert back.line_item[0].order_line.buyer_part_number == "ABCDE\tF"


def test_text_is_kept_exactly_and_empty_values_mean_absent():
    xml = rsx.encode_xml("order", [small_order(vendor_part_number="  padded  ", buyer_part_number="")])
    [(_, back)] = rsx.parse(xml)
    assert back.line_item[0].order_line.vendor_part_number == "  padded  "
    assert back.line_item[0].order_line.buyer_part_number == ""
    empty_date = xml.replace(b"</OrderHeader>", b"<AcknowledgementDate/></OrderHeader>")
    assert rsx.parse(empty_date)[0][1].header.order_header.acknowledgement_date is None


def test_bare_singular_root_without_namespace_is_accepted():
    xml = rsx.encode_xml("order", [small_order()]).replace(b' xmlns="http://www.spscommerce.com/RSX"', b"")
    root = etree.fromstring(xml)
    assert rsx.parse(etree.tostring(root[0])) == [("order", small_order())]


def test_json_wrappers_lists_and_filename_hints():
    doc = json.loads(rsx.encode_json("order", small_order()))
    for wrapped in ({"Orders": [doc, doc]}, {"Orders": {"Order": [doc, doc]}}, [doc, doc]):
        assert [t for t, _ in rsx.parse(json.dumps(wrapped).encode())] == ["order", "order"]
    assert rsx.parse(json.dumps({"OrderAcks": [doc]}).encode())[0][0] == "orderack"
    assert rsx.parse(json.dumps(doc).encode(), filename="out/PR000001.json")[0][0] == "orderack"
    doc["Header"]["OrderHeader"]["AcknowledgementType"] = "AC"  # BEG07 on an 850: the name decides
    assert rsx.parse(json.dumps(doc).encode(), filename="PO000001.json")[0][0] == "order"
    assert rsx.parse(json.dumps(doc).encode())[0][0] == "orderack"


def test_json_numbers_where_codes_are_expected_are_accepted():
    doc = json.loads(rsx.encode_json("order", small_order()))
    doc["Header"]["OrderHeader"]["Vendor"] = 6174
    assert rsx.parse(json.dumps(doc).encode())[0][1].header.order_header.vendor == "6174"


def test_unknown_elements_and_extension_namespaces_are_ignored():
    xml = rsx.encode_xml("order", [small_order()]).replace(
        b"<LineItem>", b'<Extra><Deep><Deeper>x</Deeper></Deep></Extra><x:Ext xmlns:x="urn:x">1</x:Ext><LineItem>')
    assert rsx.parse(xml) == [("order", small_order())]


def test_orderack_round_trips_and_summary_totals_survive():
    ack = RsxOrderAck(**small_order().model_dump() | {"summary": Summary(total_amount=Decimal("2.50"))})
    assert rsx.parse(rsx.encode_xml("orderack", [ack])) == [("orderack", ack)]
    assert rsx.parse(rsx.encode_json("orderack", ack), filename="PR1.json") == [("orderack", ack)]


def test_encoders_refuse_the_wrong_model_or_nothing():
    with pytest.raises(ValueError):
        rsx.encode_xml("invoice", [small_order()])
    with pytest.raises(ValueError):
        rsx.encode_xml("order", [])
    with pytest.raises(ValueError):
        rsx.encode_json("nonsense", small_order())


def test_bytes_are_read_as_utf8_whatever_the_declaration_says():
    xml = rsx.encode_xml("order", [small_order(vendor_part_number="Café")])
    mislabelled = xml.replace(b'encoding="utf-8"', b'encoding="ISO-8859-1"')
    assert rsx.parse(mislabelled)[0][1].line_item[0].order_line.vendor_part_number == "Café"
