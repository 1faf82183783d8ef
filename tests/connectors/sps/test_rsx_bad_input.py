"""Every way an inbound SPS file can be wrong ends as one BadDocument with a one-line reason."""

from __future__ import annotations

import json
import pickle
from datetime import date
from decimal import Decimal

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.sps import rsx
from ml_connector.connectors.sps.models import OrderDocHeader, OrderHeader, OrderLine, OrderLineItem, RsxOrder

NS = rsx.RSX_NS


def good_xml() -> bytes:
    header = OrderDocHeader(order_header=OrderHeader(
        trading_partner_id="SPSALLTESTID", purchase_order_number="PO123", purchase_order_date=date(2024, 1, 2)))
    line = OrderLineItem(order_line=OrderLine(order_qty=Decimal(3), purchase_price=Decimal("1.25")))
    return rsx.encode_xml("order", [RsxOrder(header=header, line_item=[line])])


def good_json() -> dict:
    [(_, order)] = rsx.parse(good_xml())
    return json.loads(rsx.encode_json("order", order))


BOMB = f"""<?xml version="1.0"?>
<!DOCTYPE Orders [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<Orders xmlns="{NS}"><Order><Header><Notes><Note>&d;</Note></Notes></Header></Order></Orders>""".encode()
XXE = f"""<?xml version="1.0"?><!DOCTYPE Orders [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Orders xmlns="{NS}"><Order><Header><Notes><Note>&x;</Note></Notes></Header></Order></Orders>""".encode()
EXTERNAL_DTD = f'<?xml version="1.0"?><!DOCTYPE Orders SYSTEM "http://example.invalid/x.dtd"><Orders xmlns="{NS}"/>'
PARAMETER_ENTITY = (
    f'<!DOCTYPE Orders [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]><Orders xmlns="{NS}"/>'
)


def deep_xml(depth: int) -> bytes:
    return good_xml().replace(b"<LineItem>", b"<X>" * depth + b"</X>" * depth + b"<LineItem>", 1)


CASES = {
    "empty": (b"", "empty file"),
    "blank": (b"  \n\t ", "empty file"),
    "not-xml-or-json": (b"ISA*00*          *00*", "neither XML nor JSON"),
    "invalid-utf8": (good_xml().replace(b"SPSALLTESTID", b"SPS\xff\xfeTEST"), "not valid UTF-8"),
    "utf16": (good_xml().decode().encode("utf-16"), "not valid UTF-8"),
    "malformed-xml": (good_xml()[:-40], "malformed XML"),
    "mismatched-tags": (b"<Orders><Order></Orders>", "malformed XML"),
    "entity-bomb": (BOMB, "DOCTYPE"),
    "external-entity": (XXE, "DOCTYPE"),
    "external-dtd": (EXTERNAL_DTD.encode(), "DOCTYPE"),
    "parameter-entity": (PARAMETER_ENTITY.encode(), "DOCTYPE"),
    "forbidden-char-raw": (good_xml().replace(b"PO123", b"PO\x0c123"), "malformed XML"),
    "forbidden-char-ref": (good_xml().replace(b"PO123", b"PO&#1;123"), "malformed XML"),
    "undefined-entity": (good_xml().replace(b"PO123", b"PO&nbsp;123"), "malformed XML"),
    "deep-xml-64": (deep_xml(80), "deeper than 64"),
    "deep-xml-huge": (deep_xml(300), "malformed XML"),
    "unknown-root": (f'<Catalogs xmlns="{NS}"/>'.encode(), "unknown root element 'Catalogs'"),
    "foreign-namespace": (b'<Orders xmlns="urn:other"><Order/></Orders>', "namespace 'urn:other'"),
    "empty-plural": (f'<Orders xmlns="{NS}"></Orders>'.encode(), "Orders holds no Order"),
    "wrong-child": (f'<Orders xmlns="{NS}"><Invoice/></Orders>'.encode(), "unexpected element 'Invoice'"),
    "repeated-single": (good_xml().replace(b"</OrderHeader>", b"<Vendor>A</Vendor><Vendor>B</Vendor></OrderHeader>"),
                        "Vendor appears more than once"),
    "value-with-children": (good_xml().replace(b"<OrderQty>3</OrderQty>", b"<OrderQty><Q>3</Q></OrderQty>"),
                            "OrderQty should hold a value"),
    "missing-field": (good_xml().replace(b"<OrderQty>3</OrderQty>", b""),
                      "Order PO123: LineItem[0].OrderLine.OrderQty: field required"),
    "empty-required": (good_xml().replace(b"<OrderQty>3</OrderQty>", b"<OrderQty/>"),
                       "LineItem[0].OrderLine.OrderQty: field required"),
    "bad-date": (good_xml().replace(b"2024-01-02", b"2024-13-02"),
                 "Header.OrderHeader.PurchaseOrderDate: input should be a valid date"),
    "bad-indicator": (good_xml().replace(
        b"</OrderLine>", b"</OrderLine><ChargesAllowances><AllowChrgIndicator>X</AllowChrgIndicator>"
                         b"<AllowChrgAmt>1</AllowChrgAmt></ChargesAllowances>"), "input should be 'A' or 'C'"),
    "no-lines": (good_xml().split(b"<LineItem>")[0] + b"</Order></Orders>", "LineItem: field required"),
    "missing-number": (good_xml().replace(b"<PurchaseOrderNumber>PO123</PurchaseOrderNumber>", b""),
                       "Order #1: Header.OrderHeader.PurchaseOrderNumber: field required"),
    "malformed-json": (b'{"Header": {"OrderHeader": {},}}', "malformed JSON"),
    "truncated-json": (json.dumps(good_json()).encode()[:-5], "malformed JSON"),
    "deep-json-64": (b'{"Header": ' + b"[" * 100 + b"]" * 100 + b"}", "deeper than 64"),
    "deep-json-recursion": (b"[" * 100_000 + b"]" * 100_000, "deeper than 64"),
    "json-scalar-docs": (b"[1, 2]", "document #1 is a JSON int"),
    "json-empty-list": (b"[]", "holds no documents"),
    "json-unknown-type": (b'{"Header": {"Foo": {}}}', "cannot tell the document type"),
    "json-nan": (json.dumps(good_json()).replace('"OrderQty": 3', '"OrderQty": NaN').encode(), "OrderQty"),
}


@pytest.mark.parametrize("payload, reason", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_bad_document_with_a_one_line_reason(payload, reason):
    with pytest.raises(BadDocument) as info:
        rsx.parse(payload, filename="upload.dat")
    err = info.value
    assert reason in err.message, err.message
    assert "\n" not in str(err) and len(err.message) <= 400
    assert err.classification == "bad_document" and not err.retryable
    assert (err.system, err.operation) == ("sps", "parse")
    assert "root:" not in str(err)  # no /etc/passwd content ever makes it into a reason


def test_oversize_files_are_refused_before_parsing():
    with pytest.raises(BadDocument, match="over the 100 byte limit"):
        rsx.parse(good_xml(), max_bytes=100)
    assert rsx.parse(good_xml(), max_bytes=len(good_xml()))


def test_non_bytes_input_is_a_bad_document_too():
    with pytest.raises(BadDocument, match="expected bytes"):
        rsx.parse("<Orders/>")  # type: ignore[arg-type]


def test_many_validation_errors_are_summarised():
    payload = good_xml().replace(b"<OrderQty>3</OrderQty>", b"").replace(b"<PurchasePrice>1.25</PurchasePrice>", b"")
    with pytest.raises(BadDocument, match=r"field required \(and 1 more\)"):
        rsx.parse(payload)


def test_bad_document_survives_pickling():
    with pytest.raises(BadDocument) as info:
        rsx.parse(b"<Orders>")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is BadDocument and clone.message == info.value.message


def test_bom_and_leading_whitespace_are_fine():
    assert rsx.parse(b"\xef\xbb\xbf\n  " + good_xml())
    assert rsx.parse(b"\xef\xbb\xbf" + json.dumps(good_json()).encode())
