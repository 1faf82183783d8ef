"""RSX -> AP bill mappings against golden files (UPDATE_GOLDEN=1 rewrites them after a
deliberate change; review the diff like code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.sps import rsx
from ml_connector.mappings.sps_to_intacct import route, rsx_to_apbill
from ml_connector.mappings.tenant import load_tenant

FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANT = load_tenant(FIXTURES / "tenants" / "golden.yaml")

CASES = [
    "PO584616.xml",
    "PO584616-1-v7.7-DropShip.json",
    "IN584616-1-v7.7-DropShip.json",
    "SH584616-1-v7.7-DropShip.json",
    "IN300001.xml",
    "PO_legacy_LineItems.xml",
]


def mapped(name: str) -> list[dict]:
    content = (FIXTURES / "sps" / name).read_bytes()
    return [rsx_to_apbill(t, d, TENANT).model_dump(mode="json") for t, d in rsx.parse(content, filename=name)]


@pytest.mark.parametrize("name", CASES)
def test_mapping_matches_golden(name):
    golden = FIXTURES / "golden" / f"{name}.apbill.json"
    got = mapped(name)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(golden.read_text())


def test_amounts_are_decimal_cents_and_lines_carry_the_cost_center():
    content = (FIXTURES / "sps" / "PO584616.xml").read_bytes()
    [(doc_type, doc)] = rsx.parse(content, filename="PO584616.xml")
    bill = rsx_to_apbill(doc_type, doc, TENANT)
    assert bill.vendor_id == "V-SPSTEST" and bill.record_id.startswith("PO-")
    for line in bill.lines:
        assert line.amount == line.amount.quantize(line.amount.__class__("0.01"))
        assert (line.department_id, line.location_id, line.class_id) == ("OPS", "HQ", "RETAIL")


def test_unknown_partner_is_a_clear_rejection():
    content = (FIXTURES / "sps" / "PO_multi_3orders.xml").read_bytes()
    outcomes = []
    for doc_type, doc in rsx.parse(content, filename="PO_multi_3orders.xml"):
        try:
            rsx_to_apbill(doc_type, doc, TENANT)
            outcomes.append("ok")
        except BadDocument as exc:
            outcomes.append(exc.code)
            assert "\n" not in str(exc)
    assert "unknown-partner" in outcomes and "ok" in outcomes


def test_unknown_item_names_the_item(tmp_path):
    content = (FIXTURES / "sps" / "PO584616.xml").read_bytes().replace(b"SPSBuyerItem1", b"NOPE-1").replace(
        b"SPSSupplierHD-20", b"NOPE-2").replace(b"859563003863", b"000000000000")
    [(doc_type, doc)] = rsx.parse(content)
    with pytest.raises(BadDocument, match="unknown item 'NOPE-1'") as err:
        rsx_to_apbill(doc_type, doc, TENANT)
    assert err.value.code == "unknown-item"


def test_routes_can_skip_a_document_type():
    assert route("shipment", "ACMEDIST0001", TENANT) == "skip"
    assert route("invoice", "ACMEDIST0001", TENANT) == "apbill"
