"""The Intacct emulator's bill changes: update, delete, reverse_bill, paid bills, closed periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from ml_connector.connectors.intacct import codec, functions
from ml_connector.connectors.intacct.codec import Login
from ml_connector.connectors.intacct.models import ApBill, ApBillLine
from ml_connector.sandbox.intacct.emulator import PATH, IntacctEmulator
from ml_connector.sandbox.intacct.store import PERIOD_CLOSED


def call(emulator, calls, *, uniqueid=False) -> etree._Element:
    body = codec.build_request(calls, sender_id=emulator.sender_id, sender_password=emulator.sender_password,
                               control_id="req-1", uniqueid=uniqueid, transaction=False, session_id=None,
                               login=Login(emulator.user_id, emulator.company_id, emulator.user_password))
    with httpx.Client(transport=emulator.transport()) as http:
        return etree.fromstring(http.post(emulator.base_url + PATH, content=body).content)


def bill_fn(controlid: str, record_id: str = "B-1", amount: Decimal = Decimal("10.00")) -> codec.Function:
    return codec.bill_function(controlid, ApBill(vendor_id="V100", record_id=record_id, when_created=date(2024, 5, 1),
                                                 when_due=date(2024, 5, 31),
                                                 lines=(ApBillLine(account_no="6000", amount=amount),)))


def errornos(element: etree._Element) -> list[str]:
    return [e.text for e in element.iter("errorno")]


@pytest.fixture
def emu() -> IntacctEmulator:
    emulator = IntacctEmulator()
    emulator.add_vendor("V100", "Paper Supply Co")
    emulator.add_gl_account("6000")
    emulator.add_gl_account("6100")
    return emulator


def created(emu, record_id="B-1", **line) -> str:
    root = call(emu, [bill_fn(f"create-{record_id}", record_id, **line)], uniqueid=True)
    return root.findtext("operation/result/data/apbill/RECORDNO")


def bill(record_id="B-1", *amounts: str, when_posted: date | None = None) -> ApBill:
    lines = tuple(ApBillLine(account_no="6100", amount=Decimal(a), memo=f"line {n}") for n, a in enumerate(amounts, 1))
    return ApBill(vendor_id="V100", record_id=record_id, when_created=date(2024, 5, 1), when_due=date(2024, 6, 30),
                  when_posted=when_posted, description="changed", lines=lines)


def status(root) -> list[str]:
    return [r.findtext("status") for r in root.iterfind("operation/result")]


def test_update_replaces_the_header_and_the_whole_line_set(emu):
    recordno = created(emu, amount=Decimal("10.00"))
    root = call(emu, [functions.bill_update_function("u1", recordno, bill("B-1", "7.00", "3.50"))], uniqueid=True)
    assert status(root) == ["success"]
    [stored] = emu.bills()
    assert stored["RECORDNO"] == recordno and stored["total"] == Decimal("10.50")
    assert stored["DESCRIPTION"] == "changed" and stored["WHENDUE"] == "06/30/2024"
    assert [(line["ACCOUNTNO"], line["TRX_AMOUNT"], line["LINE_NO"]) for line in stored["lines"]] == [
        ("6100", Decimal("7.00"), "1"), ("6100", Decimal("3.50"), "2")]
    assert stored["controlid"] == "create-B-1"  # the bill is the one created, changed in place
    # the same update again under its controlid is a duplicate, not a second change
    again = call(emu, [functions.bill_update_function("u1", recordno, bill("B-1", "1.00"))], uniqueid=True)
    assert errornos(again) == [emu.duplicate_errorno] and emu.bills()[0]["total"] == Decimal("10.50")


def test_update_cannot_change_the_bill_number_or_touch_a_missing_bill(emu):
    recordno = created(emu)
    root = call(emu, [functions.bill_update_function("u1", recordno, bill("B-2", "1.00")),
                      functions.bill_update_function("u2", "999999", bill("B-1", "1.00"))])
    assert status(root) == ["failure", "failure"]
    text = " ".join(e.text or "" for e in root.iter("description2"))
    assert "RECORDID cannot be changed" in text and "non-existing APBILL" in text


def test_delete_removes_an_unpaid_bill_and_refuses_a_paid_one(emu):
    first, second = created(emu, "B-1"), created(emu, "B-2")
    emu.pay_bill("B-2", Decimal("4.00"))
    root = call(emu, [functions.delete_function("d1", "APBILL", first), functions.delete_function("d2", "APBILL", second)])
    assert status(root) == ["success", "failure"]
    assert "Transaction 'B-2' is already paid and can't be deleted" in root.findtext(".//description2")
    assert [b["RECORDID"] for b in emu.bills()] == ["B-2"]
    assert emu.bills()[0]["STATE"] == "Partially Paid"


def test_a_paid_bill_cannot_be_updated_or_reversed(emu):
    recordno = created(emu)
    emu.pay_bill("B-1")
    root = call(emu, [functions.bill_update_function("u1", recordno, bill("B-1", "1.00")),
                      functions.reverse_bill_function("r1", recordno, date(2024, 5, 2))])
    assert status(root) == ["failure", "failure"]
    assert emu.bills()[0]["STATE"] == "Paid" and emu.bills()[0]["total"] == Decimal("10.00")


def test_reverse_bill_keeps_the_bill_reversed_and_frozen(emu):
    recordno = created(emu)
    root = call(emu, [functions.reverse_bill_function("r1", recordno, date(2024, 5, 3), "cancelled by the buyer")])
    assert status(root) == ["success"] and root.findtext(".//key") == recordno
    [stored] = emu.bills()
    assert stored["STATE"] == "Reversed" and stored["TOTALDUE"] == "0"
    later = call(emu, [functions.delete_function("d1", "APBILL", recordno)])
    assert status(later) == ["failure"] and "reversed" in later.findtext(".//description2")


def test_closed_periods_refuse_bills_dated_in_them_with_intacct_s_words(emu):
    recordno = created(emu)  # dated 05/01/2024
    emu.close_period(2024, 5)
    root = call(emu, [bill_fn("c2", "B-2"), functions.bill_update_function("u1", recordno, bill("B-1", "1.00")),
                      functions.delete_function("d1", "APBILL", recordno)])
    assert status(root) == ["failure"] * 3 and set(errornos(root)) == {PERIOD_CLOSED}
    assert root.findtext(".//description") == "Periods are closed."
    assert "Your transaction date (05/01/2024) is within a period that's been closed" in root.findtext(".//description2")
    # a bill dated in the closed month posts when its GL date (WHENPOSTED) is in an open one
    posted = call(emu, [functions.bill_function("c3", bill("B-3", "2.00", when_posted=date(2024, 6, 1)))])
    assert status(posted) == ["success"]
    [new] = [b for b in emu.bills() if b["RECORDID"] == "B-3"]
    assert (new["WHENCREATED"], new["WHENPOSTED"]) == ("05/01/2024", "06/01/2024")
    # a reversal dated in an open period is allowed only if the bill's own period is open
    reversal = call(emu, [functions.reverse_bill_function("r1", recordno, date(2024, 6, 2))])
    assert status(reversal) == ["failure"] and errornos(reversal) == [PERIOD_CLOSED]


def test_a_failed_change_can_be_retried_under_its_controlid(emu):
    recordno = created(emu)
    emu.pay_bill("B-1", Decimal("0"))  # a zero payment does not block anything
    emu.close_period(2024, 5)
    assert status(call(emu, [functions.delete_function("d1", "APBILL", recordno)], uniqueid=True)) == ["failure"]
    emu.store.closed_periods.clear()
    assert status(call(emu, [functions.delete_function("d1", "APBILL", recordno)], uniqueid=True)) == ["success"]
    assert emu.bills() == []
