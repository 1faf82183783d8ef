"""A control character in a document number (a partner can send ``&#13;``) is refused at mapping
time with a one-line reason naming it; the document is quarantined, the rest of the file posts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.ledger.schema import QUARANTINED, RECEIVED
from ml_connector.mappings.commerce_common import text
from ml_connector.mappings.identifiers import identifier, printable
from ml_connector.mappings.sps_rows import unwrap
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANT = load_tenant(FIXTURES / "tenants" / "golden.yaml")


def test_a_carriage_return_in_a_po_number_quarantines_that_order_only():
    content = (FIXTURES / "sps" / "PO_multi_3orders.xml").read_bytes()
    first = content.index(b"<PurchaseOrderNumber>") + len(b"<PurchaseOrderNumber>")
    hostile = content[:first] + b"&#13;=1+1" + content[first:]
    plain, _ = unwrap("out/PO_multi.xml", content, TENANT)
    rows, bills = unwrap("out/PO_multi.xml", hostile, TENANT)
    assert plain[0].status == RECEIVED and rows[0].status == QUARANTINED
    assert "U+000D" in rows[0].last_error and "\r" not in rows[0].last_error and "\n" not in rows[0].last_error
    assert [(r.status, r.last_error) for r in rows[1:]] == [(r.status, r.last_error) for r in plain[1:]]
    assert bills == {}


@pytest.mark.parametrize("value", ["INV\r1", "INV\n1", "INV\x001", "INV\u20281", "INV\x851"])
def test_every_control_character_is_refused(value):
    with pytest.raises(BadDocument, match="control character"):
        identifier(value, "invoice number")
    assert all(ord(c) >= 32 for c in printable(value))


def test_plain_identifiers_pass_unchanged():
    assert identifier("PO-584616/ä", "PO number") == "PO-584616/ä"


def test_commerce_increment_ids_are_checked_too():
    with pytest.raises(BadDocument, match="control character"):
        text({"increment_id": "000\r12"}, "increment_id", "order 1")
    assert text({"customer_note": "line one\nline two"}, "customer_note", "order 1") == "line one\nline two"
