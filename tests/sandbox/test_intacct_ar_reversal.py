"""The Intacct emulator's ``reverse_invoice``: an unpaid AR invoice reversed on a date (it stays,
Reversed, nothing due); a paid or already reversed one refused; a closed period refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct.codec import Login
from ml_connector.connectors.intacct.functions_ar import reverse_invoice_function
from ml_connector.sandbox.intacct.emulator import PATH, IntacctEmulator


def call(emulator, calls) -> etree._Element:
    body = codec.build_request(calls, sender_id=emulator.sender_id, sender_password=emulator.sender_password,
                               control_id="req-1", uniqueid=True, transaction=False, session_id=None,
                               login=Login(emulator.user_id, emulator.company_id, emulator.user_password))
    with httpx.Client(transport=emulator.transport()) as http:
        return etree.fromstring(http.post(emulator.base_url + PATH, content=body).content)


def invoice(emu: IntacctEmulator) -> dict:
    return next(r for r in emu.store.records("ARINVOICE") if r["RECORDID"] == "INV-1")


@pytest.fixture
def emu() -> IntacctEmulator:
    emulator = IntacctEmulator()
    emulator.add_customer("C100", "Ada Ng")
    emulator.add_gl_account("4000")
    emulator.add_ar_invoice("INV-1", "C100", [{"amount": Decimal("25.00"), "account_no": "4000"}], date(2024, 5, 1))
    return emulator


def test_an_unpaid_invoice_is_reversed_on_the_date_and_stays_with_nothing_due(emu):
    recordno = invoice(emu)["RECORDNO"]
    root = call(emu, [reverse_invoice_function("rev-1", recordno, date(2024, 5, 3), "cancelled in Commerce")])
    assert root.findtext("operation/result/status") == "success", etree.tostring(root)
    assert (invoice(emu)["STATE"], invoice(emu)["TOTALDUE"]) == ("Reversed", "0")
    again = call(emu, [reverse_invoice_function("rev-2", recordno, date(2024, 5, 3))])
    assert "is reversed" in etree.tostring(again).decode()
    replay = call(emu, [reverse_invoice_function("rev-1", recordno, date(2024, 5, 3))])
    assert replay.findtext("operation/result/status") == "failure"  # same controlid: already done
    assert "rev-1" in etree.tostring(replay).decode()


def test_a_paid_invoice_a_date_before_it_and_a_closed_period_are_refused(emu):
    recordno = invoice(emu)["RECORDNO"]
    early = call(emu, [reverse_invoice_function("early", recordno, date(2024, 4, 30))])
    assert "before the invoice's date" in etree.tostring(early).decode()
    emu.close_period(2024, 6)
    closed = call(emu, [reverse_invoice_function("closed", recordno, date(2024, 6, 2))])
    assert "within a period that's been closed" in etree.tostring(closed).decode()
    with emu.lock:
        invoice(emu).update(TOTALPAID="25.00", TOTALDUE="0")
    paid = call(emu, [reverse_invoice_function("paid", recordno, date(2024, 5, 3))])
    assert "is already paid and can't be reversed" in etree.tostring(paid).decode()
    assert invoice(emu)["STATE"] != "Reversed"
