"""Property: parse(encode(docs)) == docs for XML and JSON, over generated RSX documents.

Skipped when hypothesis is not installed (it is not a pinned test dependency); the seeded
generator tests in tests/sandbox/test_generator.py check the same round trip on volume.
"""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ml_connector.connectors.sps import rsx  # noqa: E402
from ml_connector.connectors.sps.models import RsxInvoice, RsxOrder, RsxShipment  # noqa: E402

# Any text XML 1.0 can carry (the encoder strips the rest, so those would not round-trip), minus
# carriage returns, which XML parsers normalise to line feeds by specification.
XML_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufffe\uffff",
                          min_codepoint=0x09).filter(lambda c: c in "\t\n" or ord(c) >= 0x20)
text = st.text(XML_CHARS, max_size=20)
code = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"), min_size=1, max_size=15)
amount = st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12)
day = st.dates()


def block(required: dict, optional: dict | None = None) -> st.SearchStrategy[dict]:
    """An RSX block as the JSON form spells it (alias keys), for Model.model_validate."""
    return st.fixed_dictionaries(required, optional=optional or {})


address = block({"AddressTypeCode": code}, {"AddressName": text, "City": text, "PostalCode": text})
charge = block({"AllowChrgIndicator": st.sampled_from(["A", "C"]), "AllowChrgAmt": amount},
               {"AllowChrgCode": code, "AllowChrgHandlingDescription": text})
summary = block({}, {"TotalAmount": amount, "TotalLineItemNumber": st.integers(0, 999)})
header_groups = {"Address": st.lists(address, max_size=3), "ChargesAllowances": st.lists(charge, max_size=2)}

orders = block({
    "Header": block({"OrderHeader": block(
        {"TradingPartnerId": code, "PurchaseOrderNumber": code, "PurchaseOrderDate": day}, {"Vendor": text})},
        header_groups),
    "LineItem": st.lists(block({"OrderLine": block({"OrderQty": amount, "PurchasePrice": amount},
                                                   {"BuyerPartNumber": text})}), min_size=1, max_size=4),
}, {"Summary": summary}).map(RsxOrder.model_validate)
invoices = block({
    "Header": block({"InvoiceHeader": block(
        {"TradingPartnerId": code, "InvoiceNumber": code, "InvoiceDate": day})}, header_groups),
    "LineItem": st.lists(block({"InvoiceLine": block({"InvoiceQty": amount, "PurchasePrice": amount},
                                                     {"ExtendedItemTotal": amount})}), min_size=1, max_size=4),
}, {"Summary": summary}).map(RsxInvoice.model_validate)
items = st.lists(block({"ShipmentLine": block({"ShipQty": amount}, {"VendorPartNumber": text})}), max_size=3)
shipments = block({
    "Header": block({"ShipmentHeader": block(
        {"TradingPartnerId": code, "ShipmentIdentification": code, "ShipDate": day})}),
    "OrderLevel": st.lists(block(
        {"OrderHeader": block({"PurchaseOrderNumber": code})},
        {"PackLevel": st.lists(block({"ItemLevel": items}, {"Pack": block({}, {"ShippingSerialID": code})}),
                               max_size=3),
         "ItemLevel": items}), min_size=1, max_size=2),
}).map(RsxShipment.model_validate)
documents = st.one_of(orders.map(lambda d: ("order", d)), invoices.map(lambda d: ("invoice", d)),
                      shipments.map(lambda d: ("shipment", d)))

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents)
def test_xml_round_trip(pair):
    doc_type, doc = pair
    assert rsx.parse(rsx.encode_xml(doc_type, [doc])) == [(doc_type, doc)]


@SETTINGS
@given(documents)
def test_json_round_trip(pair):
    doc_type, doc = pair
    assert rsx.parse(rsx.encode_json(doc_type, doc)) == [(doc_type, doc)]


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_raises_nothing_but_bad_document(payload):
    from ml_connector.connectors.errors import BadDocument

    try:
        rsx.parse(payload)
    except BadDocument as exc:
        assert "\n" not in exc.message
