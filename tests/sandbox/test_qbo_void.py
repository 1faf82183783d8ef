"""The QBO emulator voids an invoice as QBO does (``operation=void``): kept under its number and
customer, amounts zeroed, "Voided" in PrivateNote, SyncToken + 1, a ``Void`` change for webhooks."""

from __future__ import annotations

from decimal import Decimal

from ml_connector.sandbox.qbo import QboEmulator
from tests.sandbox.test_qbo_emulator import Api, fault_code


def invoice(emu: QboEmulator) -> dict:
    customer = emu.add_customer("Acme")
    item = emu.add_item("Widget", unit_price="4.25")
    return emu.add_invoice(customer["Id"], [{"item_id": item["Id"], "qty": 2, "unit_price": "4.25"}], doc_number="V-1")


def test_void_zeroes_the_invoice_and_keeps_it():
    emu = QboEmulator()
    inv = invoice(emu)
    api = Api(emu)
    response = api.call("POST", "invoice", body={"Id": inv["Id"], "SyncToken": "0"}, operation="void")
    assert response.status_code == 200, response.text
    voided = api.call("GET", f"invoice/{inv['Id']}").json()["Invoice"]
    assert voided["DocNumber"] == "V-1" and voided["PrivateNote"] == "Voided" and voided["SyncToken"] == "1"
    assert Decimal(str(voided["TotalAmt"])) == Decimal(str(voided["Balance"])) == 0
    assert all(Decimal(str(line["Amount"])) == 0 for line in voided["Line"])
    assert [c.operation for c in emu.changes() if c.id == inv["Id"]] == ["Create", "Void"]


def test_void_with_a_stale_synctoken_is_fault_5010():
    emu = QboEmulator()
    inv = invoice(emu)
    emu.edit("Invoice", inv["Id"], PrivateNote="changed")
    response = Api(emu).call("POST", "invoice", body={"Id": inv["Id"], "SyncToken": "0"}, operation="void")
    assert response.status_code == 400 and fault_code(response) == "5010"
