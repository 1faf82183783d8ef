"""The Intacct emulator's Order Entry sales orders: legacy create_sotransaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
from lxml import etree

from ml_connector.connectors.intacct import codec, functions_so
from ml_connector.connectors.intacct.codec import Login
from ml_connector.connectors.intacct.models import SoLine, SoTransaction
from ml_connector.sandbox.intacct.emulator import PATH, IntacctEmulator


def call(emulator, calls) -> etree._Element:
    body = codec.build_request(calls, sender_id=emulator.sender_id, sender_password=emulator.sender_password,
                               control_id="req-1", uniqueid=True, transaction=False, session_id=None,
                               login=Login(emulator.user_id, emulator.company_id, emulator.user_password))
    with httpx.Client(transport=emulator.transport()) as http:
        return etree.fromstring(http.post(emulator.base_url + PATH, content=body).content)


def order(document_no: str = "PO1", customer_id: str = "C-1") -> SoTransaction:
    return SoTransaction(transaction_type="Sales Order", date_created=date(2024, 5, 1), customer_id=customer_id,
                         document_no=document_no, reference_no=document_no,
                         lines=(SoLine(item_id="WID-1", quantity=Decimal(3), price=Decimal("4.25")),
                                SoLine(item_id="WID-2", quantity=Decimal(1), price=Decimal("10.00"))))


def test_create_sotransaction_keys_the_order_by_docid_and_refuses_a_second_with_its_number():
    emu = IntacctEmulator()
    emu.add_customer("C-1", "Acme Retail")
    root = call(emu, [functions_so.sotransaction_function("s1", order()),
                      functions_so.sotransaction_function("s2", order()),
                      functions_so.sotransaction_function("s3", order("PO2", customer_id="C-9"))])
    assert [r.findtext("status") for r in root.iterfind("operation/result")] == ["success", "failure", "failure"]
    assert root.findtext("operation/result/key") == "Sales Order-PO1"
    errors = " ".join(e.text or "" for e in root.iter("description2"))
    assert "Document number 'PO1' already exists" in errors and "Invalid Customer 'C-9'" in errors
    [so] = emu.store.records("SODOCUMENT")
    assert (so["DOCID"], so["CUSTOMERID"], so["TOTAL"], so["PONUMBER"]) == ("Sales Order-PO1", "C-1", "22.75", "PO1")
    assert len(emu.store.items[("SODOCUMENT", so["RECORDNO"])]) == 2
