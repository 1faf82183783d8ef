"""The Intacct emulator for the Adobe Commerce integrations (issues 4 and 5), spoken to in raw XML
envelopes built here per the reference sheet: parties, AR invoices/payments/adjustments, AP
adjustments, purchasing and inventory transactions, multi-entity sessions, idempotency, faults."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from lxml import etree
from lxml.builder import E

from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct.codec import Login
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct.emulator import DUPLICATE_CONTROLID, PATH, IntacctEmulator

# -- helpers ------------------------------------------------------------------------------------


def post(emulator: IntacctEmulator, body: bytes) -> httpx.Response:
    with httpx.Client(transport=emulator.transport()) as http:
        return http.post(emulator.base_url + PATH, content=body)


def fn(controlid: str, body: etree._Element) -> codec.Function:
    return codec.Function(controlid=controlid, body=etree.tostring(body))


def call(emulator, functions, *, session_id=None, location_id=None, uniqueid=True, transaction=False) -> etree._Element:
    login = None if session_id else Login(emulator.user_id, emulator.company_id, emulator.user_password, location_id)
    body = codec.build_request(functions, sender_id=emulator.sender_id, sender_password=emulator.sender_password,
                               control_id="req-1", uniqueid=uniqueid, transaction=transaction,
                               session_id=session_id, login=login)
    response = post(emulator, body)
    assert response.status_code == 200
    return etree.fromstring(response.content)


def results(root: etree._Element) -> list[etree._Element]:
    return root.findall("operation/result")


def ok(root: etree._Element) -> etree._Element:
    [result] = results(root)
    assert result.findtext("status") == "success", etree.tostring(result)
    return result


def failed(root: etree._Element) -> str:
    [result] = results(root)
    assert result.findtext("status") == "failure", etree.tostring(result)
    assert result.find("key") is None
    return result.findtext("errormessage/error/description2")


def schema_error(root: etree._Element) -> str:
    assert root.findtext("control/status") == "failure" and root.find("operation") is None
    assert root.findtext("errormessage/error/errorno") == "XL03000003"
    return root.findtext("errormessage/error/description2")


def session(emulator, location_id: str | None = None) -> str:
    body = E.getAPISession(E.locationid(location_id)) if location_id is not None else E.getAPISession()
    return ok(call(emulator, [fn("s", body)], uniqueid=False)).findtext("data/api/sessionid")


def day(d: date, tag: str = "datecreated") -> etree._Element:
    return E(tag, E.year(str(d.year)), E.month(f"{d.month:02d}"), E.day(f"{d.day:02d}"))


def line(amount: str, account: str = "4000", location: str | None = None, **extra) -> etree._Element:
    element = E.lineitem(E.glaccountno(account), E.amount(amount))
    if location:
        element.append(E.locationid(location))
    for tag, value in extra.items():
        element.append(E(tag, value))
    return element


def invoice(customer="C-1", lines=None, number="AR-1", custom: dict | None = None) -> etree._Element:
    body = E.create_invoice(E.customerid(customer), day(date(2024, 5, 3)), day(date(2024, 6, 2), "datedue"),
                            E.invoiceno(number))
    if custom:
        body.append(E.customfields(*[E.customfield(E.customfieldname(k), E.customfieldvalue(v))
                                     for k, v in custom.items()]))
    body.append(E.invoiceitems(*(lines if lines is not None else [line("100.00")])))
    return body


def payment(applications, amount="100.00", customer="C-1", method="EFT") -> etree._Element:
    return E.create_arpayment(E.customerid(customer), E.paymentamount(amount), E.bankaccountid("BOA-CHK"),
                              E.refid("PAY-1"), day(date(2024, 5, 10), "datereceived"), E.paymentmethod(method),
                              *[E.arpaymentitem(E.invoicekey(k), E.amount(a)) for k, a in applications])


def query(object_name: str, where: str) -> etree._Element:
    return E.readByQuery(E.object(object_name), E.fields("*"), E.query(where), E.pagesize("100"))


@pytest.fixture
def emu() -> IntacctEmulator:
    emulator = IntacctEmulator()
    emulator.add_customer("C-1", "Acme Retail", email="ap@acme.test")
    emulator.add_customer("C-2", "Other Co")
    emulator.add_vendor("V-1", "Paper Supply")
    for account in ("4000", "6000", "1200"):
        emulator.add_gl_account(account)
    emulator.add_custom_field("ARINVOICE", "COMMERCE_ENTITY_ID")
    return emulator


def post_invoice(emulator, **kwargs) -> str:
    return ok(call(emulator, [fn(f"inv-{kwargs.get('number', 'AR-1')}", invoice(**kwargs))])).findtext("key")


# -- vendors and customers ------------------------------------------------------------------------


def test_vendor_and_customer_create_with_email_and_custom_field_then_found_by_query(emu):
    emu.add_custom_field("VENDOR", "COMMERCE_CUSTOMER_ID")
    vendor = E.create(E.VENDOR(E.VENDORID("V-7"), E.NAME("Jane's Deli"), E.COMMERCE_CUSTOMER_ID("77"),
                               E.DISPLAYCONTACT(E.PRINTAS("Jane's Deli"), E.EMAIL1("Jane@Deli.test"))))
    customer = E.create(E.CUSTOMER(E.CUSTOMERID("C-7"), E.NAME("Deli"), E.CREDITLIMIT("500.00"),
                                   E.DISPLAYCONTACT(E.EMAIL1("jane@deli.test"))))
    root = call(emu, [fn("v", vendor), fn("c", customer)])
    assert [r.findtext("status") for r in results(root)] == ["success", "success"]
    assert root.findtext(".//data/vendor/VENDORID") == "V-7" and root.find(".//data/vendor/RECORDNO") is not None
    found = ok(call(emu, [fn("q", query("VENDOR", "COMMERCE_CUSTOMER_ID = '77'"))])).find("data")
    assert [r.findtext("VENDORID") for r in found] == ["V-7"]
    assert found.findtext("vendor/DISPLAYCONTACT.EMAIL1") == "Jane@Deli.test"
    by_email = E.query(E.select(E.field("CUSTOMERID"), E.field("CREDITLIMIT")), E.object("CUSTOMER"),
                       E.filter(E.equalto(E.field("DISPLAYCONTACT.EMAIL1"), E.value("JANE@deli.test"))),
                       E.options(E.caseinsensitive("true"), E.showprivate("true")))
    data = ok(call(emu, [fn("q2", by_email)])).find("data")
    assert [(r.findtext("CUSTOMERID"), r.findtext("CREDITLIMIT")) for r in data] == [("C-7", "500.00")]


def test_duplicate_vendorid_and_customerid_are_refused(emu):
    for body in (E.create(E.VENDOR(E.VENDORID("V-1"), E.NAME("Again"))),
                 E.create(E.CUSTOMER(E.CUSTOMERID("C-1"), E.NAME("Again")))):
        root = call(emu, [fn("dup", body)], uniqueid=False)
        assert "already exists" in failed(root) and results(root)[0].find("data").get("count") == "0"
    assert len(emu.vendors()) == 1 and [c["NAME"] for c in emu.customers()] == ["Acme Retail", "Other Co"]


def test_update_vendor_and_customer_by_id_or_recordno(emu):
    vendor = E.update(E.VENDOR(E.VENDORID("V-1"), E.NAME("Paper Supply Inc"),
                               E.DISPLAYCONTACT(E.EMAIL1("new@paper.test"))))
    data = ok(call(emu, [fn("u1", vendor)])).find("data")
    assert (data.get("listtype"), data.findtext("vendor/VENDORID")) == ("objects", "V-1")
    [record] = emu.vendors()
    assert (record["NAME"], record["DISPLAYCONTACT.EMAIL1"]) == ("Paper Supply Inc", "new@paper.test")
    recordno = emu.customers()[0]["RECORDNO"]
    ok(call(emu, [fn("u2", E.update(E.CUSTOMER(E.RECORDNO(recordno), E.STATUS("inactive"))))]))
    assert emu.customers()[0]["STATUS"] == "inactive"
    missing = call(emu, [fn("u3", E.update(E.VENDOR(E.VENDORID("V-99"), E.NAME("x"))))])
    assert failed(missing).startswith("Cannot update non-existing VENDOR with VENDORID=V-99.")


# -- AR invoices ----------------------------------------------------------------------------------


def test_create_invoice_returns_its_key_and_is_found_by_its_custom_field(emu):
    key = post_invoice(emu, custom={"COMMERCE_ENTITY_ID": "42"},
                       lines=[line("60.004", memo="Widget"), line("40.00", account="4000")])
    data = ok(call(emu, [fn("q", query("ARINVOICE", "COMMERCE_ENTITY_ID = '42'"))])).find("data")
    assert [r.findtext("RECORDNO") for r in data] == [key]
    row = data.find("arinvoice")
    assert [row.findtext(n) for n in ("RECORDID", "CUSTOMERID", "TOTALENTERED", "TOTALDUE", "TOTALPAID", "STATE",
                                      "WHENDUE")] == ["AR-1", "C-1", "100.00", "100.00", "0.00", "Posted", "06/02/2024"]
    items = ok(call(emu, [fn("r", E.read(E.object("ARINVOICE"), E.keys(key), E.fields("*")))])).find(
        "data/arinvoice/ARINVOICEITEMS")
    assert [i.findtext("AMOUNT") for i in items] == ["60.00", "40.00"]
    [stored] = emu.ar_invoices()
    assert (stored["controlid"], stored["total"], stored["entity"]) == ("inv-AR-1", Decimal("100.00"), "")


@pytest.mark.parametrize("body, fragment", [
    (invoice(customer="C-404"), "Invalid Customer 'C-404'"),
    (invoice(custom={"UNDECLARED": "1"}), "not a custom field of ARINVOICE"),
    (invoice(lines=[line("10.00", account="9999")]), "invalid GL account '9999'"),
    (invoice(lines=[line("1,000.00")]), "must be a number"),
    (E.create_invoice(E.customerid("C-1"), day(date(2024, 5, 3)), E.invoiceitems(line("1.00"))),
     "datedue is required if not using termname"),
])
def test_invalid_invoices_fail_at_function_level_and_store_nothing(emu, body, fragment):
    assert fragment in failed(call(emu, [fn("bad", body)]))
    assert emu.ar_invoices() == []


def test_termname_sets_the_due_date(emu):
    body = E.create_invoice(E.customerid("C-1"), day(date(2024, 5, 3)), E.termname("N30"), E.invoiceitems(line("5")))
    ok(call(emu, [fn("t", body)]))
    assert emu.ar_invoices()[0]["WHENDUE"] == "06/02/2024"


# -- element order (the XSD gateway) ---------------------------------------------------------------


def _swap_first_two(element: etree._Element) -> etree._Element:
    element.insert(0, element[1])
    return element


@pytest.mark.parametrize("body, fragment", [
    (_swap_first_two(invoice()), "Element 'datecreated': This element is not expected"),
    (E.create_invoice(E.customerid("C-1"), day(date(2024, 5, 3)), E.termname("N30")), "Missing child element"),
    (invoice(lines=[E.lineitem(E.amount("1.00"), E.glaccountno("4000"))]), "Element 'amount'"),
    (E.create_invoice(E.customerid("C-1"), E.datecreated(E.month("05"), E.year("2024"), E.day("03")),
                      E.termname("N30"), E.invoiceitems(line("1"))), "Element 'month'"),
    (E.create_arpayment(E.paymentamount("1"), E.customerid("C-1")), "Element 'paymentamount'"),
    (E.create_potransaction(E.transactiontype("Purchase Order"), day(date(2024, 5, 4)), E.vendorid("V-1"),
                            E.payto(E.contactname("")),
                            E.potransitems(E.potransitem(E.itemid("W"), E.quantity("1")))), "Element 'payto'"),
    (E.create_ictransaction(E.transactiontype("Inventory Receipt"), day(date(2024, 5, 4)),
                            E.ictransitems(E.ictransitem(E.itemid("W"), E.quantity("1"), E.warehouseid("WH1")))),
     "Element 'quantity'"),
    (E.create_item(E.name("Widget"), E.itemid("W"), E.itemtype("Inventory")), "Element 'name'"),
])
def test_legacy_element_order_is_a_control_level_schema_error(emu, body, fragment):
    assert fragment in schema_error(call(emu, [fn("order", body)]))
    assert emu.ar_invoices() == [] and emu.items() == []


# -- AR payments and adjustments ------------------------------------------------------------------


def test_payment_applied_reduces_the_invoice_due_and_the_balance(emu):
    first, second = post_invoice(emu, number="AR-1"), post_invoice(emu, number="AR-2")
    key = ok(call(emu, [fn("p1", payment([(first, "100.00"), (second, "30.00")], amount="150.00"))])).findtext("key")
    dues = {i["RECORDID"]: (i["TOTALDUE"], i["TOTALPAID"], i["STATE"]) for i in emu.ar_invoices()}
    assert dues == {"AR-1": ("0.00", "100.00", "Paid"), "AR-2": ("70.00", "30.00", "Partially Paid")}
    [paid] = emu.ar_payments()
    assert (paid["RECORDNO"], paid["TOTALAPPLIED"], paid["UNAPPLIED"], paid["total"]) == (
        key, "130.00", "20.00", Decimal("150.00"))
    assert [(line["RECORDKEY"], line["AMOUNT"]) for line in paid["lines"]] == [
        (first, Decimal("100.00")), (second, Decimal("30.00"))]
    assert emu.customer_balances() == {"C-1": Decimal("50.00")}  # 70 due - 20 unapplied
    read = ok(call(emu, [fn("r", E.read(E.object("ARPYMT"), E.keys(key), E.fields("*")))]))
    assert read.findtext("data/arpymt/ARPYMTDETAILS/arpymtdetail/RECORDKEY") == first


@pytest.mark.parametrize("applications, amount, fragment", [
    ([("INVOICE", "100.01")], "200.00", "cannot apply 100.01 to invoice"),
    ([("INVOICE", "60.00"), ("INVOICE", "60.00")], "200.00", "cannot apply 60.00 to invoice"),
    ([("999999", "10.00")], "10.00", "invalid invoice key '999999'"),
    ([("OTHER", "10.00")], "10.00", "invalid invoice key"),
    ([("INVOICE", "50.00")], "40.00", "exceed the payment amount"),
])
def test_over_application_and_unknown_invoices_are_refused(emu, applications, amount, fragment):
    keys = {"INVOICE": post_invoice(emu), "OTHER": post_invoice(emu, customer="C-2", number="AR-9")}
    applications = [(keys.get(k, k), a) for k, a in applications]
    assert fragment in failed(call(emu, [fn("p", payment(applications, amount=amount))]))
    assert emu.ar_payments() == [] and {i["TOTALDUE"] for i in emu.ar_invoices()} == {"100.00"}


def test_payment_needs_a_method_and_a_deposit_account(emu):
    key = post_invoice(emu)
    assert "Invalid payment method" in failed(call(emu, [fn("p", payment([(key, "1")], method="Barter"))]))
    no_account = E.create_arpayment(E.customerid("C-1"), E.paymentamount("1"), day(date(2024, 5, 1), "datereceived"),
                                    E.paymentmethod("Cash"), E.arpaymentitem(E.invoicekey(key), E.amount("1")))
    assert "bank account" in failed(call(emu, [fn("p2", no_account)]))


def test_generic_arpymt_create_applies_to_invoices_too(emu):
    key = post_invoice(emu)
    body = E.create(E.ARPYMT(E.FINANCIALENTITY("BOA-CHK"), E.PAYMENTMETHOD("EFT"), E.CUSTOMERID("C-1"),
                             E.RECEIPTDATE("05/10/2024"), E.CURRENCY("USD"),
                             E.ARPYMTDETAILS(E.ARPYMTDETAIL(E.RECORDKEY(key), E.TRX_PAYMENTAMOUNT("25.00")),
                                             E.ARPYMTDETAIL(E.RECORDKEY(key), E.TRX_PAYMENTAMOUNT("25.00")))))
    data = ok(call(emu, [fn("g", body)])).find("data")
    assert [c.tag for c in data.find("arpymt")] == ["RECORDNO"]
    assert emu.ar_invoices()[0]["TOTALDUE"] == "50.00" and emu.ar_payments()[0]["TOTALENTERED"] == "50.00"


def test_ar_adjustment_credit_memo_lowers_the_balance(emu):
    post_invoice(emu)
    body = E.create_aradjustment(E.customerid("C-1"), day(date(2024, 5, 5)), E.adjustmentno("CM-1"),
                                 E.invoiceno("AR-1"), E.aradjustmentitems(line("-30.00")))
    key = ok(call(emu, [fn("cm", body)])).findtext("key")
    [adjustment] = emu.ar_adjustments()
    assert (adjustment["RECORDNO"], adjustment["RECORDID"], adjustment["total"]) == (key, "CM-1", Decimal("-30.00"))
    assert emu.customer_balances() == {"C-1": Decimal("70.00")}


def test_ap_adjustment_lines_share_one_sign(emu):
    good = E.create_apadjustment(E.vendorid("V-1"), day(date(2024, 5, 2)), E.adjustmentno("VC-7"),
                                 E.apadjustmentitems(line("-20.00", "6000"), line("-5.00", "6000")))
    key = ok(call(emu, [fn("ap", good)])).findtext("key")
    [adjustment] = emu.ap_adjustments()
    assert (adjustment["RECORDNO"], adjustment["VENDORID"], adjustment["total"]) == (key, "V-1", Decimal("-25.00"))
    mixed = E.create_apadjustment(E.vendorid("V-1"), day(date(2024, 5, 2)),
                                  E.apadjustmentitems(line("-20.00", "6000"), line("5.00", "6000")))
    assert "all positive or all negative" in failed(call(emu, [fn("ap2", mixed)]))


# -- purchasing -------------------------------------------------------------------------------------


def po(docno: str | None = "PO-1001", vendor="V-1", definition="Purchase Order") -> etree._Element:
    body = E.create_potransaction(E.transactiontype(definition), day(date(2024, 5, 4)), E.vendorid(vendor))
    if docno:
        body.append(E.documentno(docno))
    body.extend([E.referenceno("B2B-PO-77"), E.returnto(E.contactname("")), E.payto(E.contactname("")),
                 E.potransitems(E.potransitem(E.itemid("W-1"), E.quantity("10"), E.unit("Each"), E.price("4.25")),
                                E.potransitem(E.itemid("W-2"), E.quantity("2"), E.price("1.50")))])
    return body


def test_create_potransaction_is_readable_afterwards(emu):
    assert ok(call(emu, [fn("po", po())])).findtext("key") == "Purchase Order-PO-1001"
    data = ok(call(emu, [fn("q", query("PODOCUMENT", "PONUMBER = 'B2B-PO-77'"))])).find("data")
    row = data.find("podocument")
    assert [row.findtext(n) for n in ("DOCID", "VENDORID", "STATE", "TOTAL")] == [
        "Purchase Order-PO-1001", "V-1", "Pending", "45.50"]
    lines = ok(call(emu, [fn("r", E.read(E.object("PODOCUMENT"), E.keys(row.findtext("RECORDNO")),
                                         E.fields("*")))])).find("data/podocument/PODOCUMENTENTRIES")
    assert [(e.findtext("ITEMID"), e.findtext("QUANTITY"), e.findtext("PRICE")) for e in lines] == [
        ("W-1", "10", "4.25"), ("W-2", "2", "1.50")]
    assert "already exists" in failed(call(emu, [fn("po2", po())]))
    assert "Invalid transaction definition" in failed(call(emu, [fn("po3", po("X", definition="Sales Order"))]))
    assert "Invalid Vendor 'V-9'" in failed(call(emu, [fn("po4", po("Y", vendor="V-9"))]))
    assert ok(call(emu, [fn("po5", po(None))])).findtext("key") == "Purchase Order-PO0002"
    assert [d["DOCNO"] for d in emu.po_documents()] == ["PO-1001", "PO0002"]


# -- items and inventory ----------------------------------------------------------------------------


def item(item_id="W-1", item_type="Inventory", **attributes) -> etree._Element:
    return E.create_item(E.itemid(item_id), E.name("Widget"), E.status("active"), E.itemtype(item_type), **attributes)


def ic(definition: str, *lines: tuple[str, str, str], docno: str | None = None) -> etree._Element:
    body = E.create_ictransaction(E.transactiontype(definition), day(date(2024, 5, 5)))
    if docno:
        body.append(E.documentno(docno))
    body.append(E.ictransitems(*[E.ictransitem(E.itemid(i), E.warehouseid(w), E.quantity(q)) for i, w, q in lines]))
    return body


def test_items_created_legacy_or_generic_and_duplicates_refused(emu):
    assert ok(call(emu, [fn("i1", item())])).findtext("key") == "W-1"
    generic = E.create(E.ITEM(E.ITEMID("W-2"), E.NAME("Gadget"), E.ITEMTYPE("Non-Inventory")))
    assert ok(call(emu, [fn("i2", generic)])).findtext("data/item/ITEMID") == "W-2"
    assert "already exists" in failed(call(emu, [fn("i3", item())]))
    assert ok(call(emu, [fn("i4", item(ignoreduplicates="true"))])).findtext("key") == "W-1"
    assert "Invalid item type" in failed(call(emu, [fn("i5", item("W-3", "Gizmo"))]))
    assert [(i["ITEMID"], i["ITEMTYPE"]) for i in emu.items()] == [("W-1", "Inventory"), ("W-2", "Non-Inventory")]


def test_inventory_transactions_move_quantities_per_item_and_warehouse(emu):
    emu.add_item("W-1", "Widget", on_hand={"WH1": 5})
    emu.add_item("SVC", "Service", "Non-Inventory")
    emu.add_warehouse("WH2")
    key = ok(call(emu, [fn("r", ic("Inventory Receipt", ("W-1", "WH1", "10"), ("W-1", "WH2", "3"),
                                   docno="RC-1"))])).findtext("key")
    assert key == "Inventory Receipt-RC-1"
    ok(call(emu, [fn("s", ic("Inventory Shipper", ("W-1", "WH1", "4"), ("W-1", "WH1", "1")))]))
    assert emu.inventory() == {("W-1", "WH1"): Decimal("10"), ("W-1", "WH2"): Decimal("3")}
    short = call(emu, [fn("s2", ic("Inventory Shipper", ("W-1", "WH2", "2"), ("W-1", "WH2", "2")))])
    assert "Not enough quantity on hand of 'W-1' in warehouse 'WH2'" in failed(short)
    assert "not an Inventory item" in failed(call(emu, [fn("s3", ic("Inventory Shipper", ("SVC", "WH1", "1")))]))
    assert "invalid warehouse 'WH9'" in failed(call(emu, [fn("s4", ic("Inventory Receipt", ("W-1", "WH9", "1")))]))
    assert emu.on_hand("W-1", "WH2") == Decimal("3") and len(emu.ic_documents()) == 2
    select = E.query(E.select(E.field("ITEMID"), E.field("WAREHOUSEID"), E.field("QTYONHAND")),
                     E.object("ITEMWAREHOUSEINFO"), E.filter(E.equalto(E.field("WAREHOUSEID"), E.value("WH1"))))
    data = ok(call(emu, [fn("q", select)])).find("data")
    assert [(r.findtext("ITEMID"), r.findtext("QTYONHAND")) for r in data] == [("W-1", "10")]


def test_negative_inventory_can_be_allowed():
    emulator = IntacctEmulator(allow_negative_inventory=True)
    emulator.add_item("W-1", "Widget")
    emulator.add_warehouse("WH1")
    ok(call(emulator, [fn("s", ic("Adjustment Decrease", ("W-1", "WH1", "2")))]))
    assert emulator.on_hand("W-1", "WH1") == Decimal("-2")


# -- multi-entity -------------------------------------------------------------------------------------


@pytest.fixture
def multi(emu) -> IntacctEmulator:
    emu.add_entity("US01", "US entity")
    emu.add_entity("EU01", "EU entity")
    emu.add_location("US01-NYC", "US01")
    emu.add_warehouse("WH-US", "US01")
    emu.add_warehouse("WH-EU", "EU01")
    emu.add_item("W-1", "Widget", on_hand={"WH-US": 10, "WH-EU": 4})
    return emu


def test_entity_sessions_scope_writes_and_reads(multi):
    us, eu = session(multi, "US01"), session(multi, "EU01")
    root = call(multi, [fn("inv-us", invoice(lines=[line("80.00", location="US01-NYC")]))], session_id=us)
    assert root.findtext("operation/authentication/locationid") == "US01"
    us_key = ok(root).findtext("key")
    eu_key = ok(call(multi, [fn("inv-eu", invoice(number="AR-EU", lines=[line("20.00", location="EU01")]))],
                     session_id=eu)).findtext("key")
    assert [(i["RECORDNO"], i["MEGAENTITYID"]) for i in multi.ar_invoices("US01")] == [(us_key, "US01")]
    seen = ok(call(multi, [fn("q1", query("ARINVOICE", ""))], session_id=eu)).find("data")
    assert [r.findtext("RECORDNO") for r in seen] == [eu_key]  # an entity sees only its own transactions
    assert seen.findtext("arinvoice/MEGAENTITYNAME") == "EU entity"
    top = ok(call(multi, [fn("q2", query("ARINVOICE", "MEGAENTITYID = 'US01'"))], session_id=session(multi))).find(
        "data")
    assert [r.findtext("RECORDNO") for r in top] == [us_key]  # the top level sees all and can filter
    # master data at the top level is shared: both entities see customer C-1
    assert ok(call(multi, [fn("c", query("CUSTOMER", "CUSTOMERID = 'C-1'"))], session_id=eu)).find("data").get(
        "count") == "1"
    other = call(multi, [fn("pay", payment([(us_key, "10.00")]))], session_id=eu)
    assert "invalid invoice key" in failed(other)  # the EU session cannot pay a US invoice
    assert multi.top_level_writes() == []


def test_multi_entity_lines_need_a_location_of_the_session_entity(multi):
    us = session(multi, "US01")
    assert "LOCATIONID is required" in failed(call(multi, [fn("a", invoice())], session_id=us))
    wrong = call(multi, [fn("b", invoice(lines=[line("1.00", location="EU01")]))], session_id=us)
    assert "belongs to entity 'EU01'" in failed(wrong)
    shipped = call(multi, [fn("c", ic("Inventory Shipper", ("W-1", "WH-EU", "1")))], session_id=us)
    assert "belongs to entity 'EU01'" in failed(shipped)
    ok(call(multi, [fn("d", ic("Inventory Shipper", ("W-1", "WH-US", "3")))], session_id=us))
    assert multi.inventory("US01") == {("W-1", "WH-US"): Decimal("7")}
    assert multi.ic_documents("US01")[0]["entity"] == "US01"


def test_a_create_at_the_top_level_is_observable(multi):
    key = ok(call(multi, [fn("top", invoice(lines=[line("5.00", location="US01")]))])).findtext("key")
    assert multi.top_level_writes() == [("ARINVOICE", key)]
    assert multi.ar_invoices("") == multi.ar_invoices() and multi.ar_invoices("US01") == []


def test_unknown_entities_are_refused_and_login_can_name_an_entity(multi):
    assert "Entity 'XX' does not exist" in failed(call(multi, [fn("s", E.getAPISession(E.locationid("XX")))]))
    root = call(multi, [fn("q1", query("ARINVOICE", ""))], location_id="XX")
    assert root.findtext("operation/authentication/status") == "failure"
    root = call(multi, [fn("i", invoice(lines=[line("5.00", location="US01")]))], location_id="US01")
    assert root.findtext("operation/authentication/locationid") == "US01"
    assert multi.ar_invoices()[0]["entity"] == "US01"
    top = session(multi, "")  # an empty locationid asks for the top level
    assert call(multi, [fn("q2", query("ARINVOICE", ""))], session_id=top).findtext(
        "operation/authentication/locationid") == ""


# -- transactions, idempotency, faults ------------------------------------------------------------


def test_transaction_rollback_gives_dues_and_quantities_back(emu):
    key = post_invoice(emu)
    emu.add_item("W-1", "Widget", on_hand={"WH1": 5})
    root = call(emu, [fn("p", payment([(key, "60.00")])), fn("s", ic("Inventory Shipper", ("W-1", "WH1", "5"))),
                      fn("bad", invoice(customer="C-404"))], transaction=True)
    assert [r.findtext("status") for r in results(root)] == ["aborted", "aborted", "failure"]
    assert emu.ar_payments() == [] and emu.ic_documents() == []
    assert (emu.ar_invoices()[0]["TOTALDUE"], emu.ar_invoices()[0]["STATE"]) == ("100.00", "Posted")
    assert emu.on_hand("W-1", "WH1") == Decimal("5")


def test_transaction_rollback_undoes_an_update(emu):
    rename = E.update(E.CUSTOMER(E.CUSTOMERID("C-1"), E.NAME("Renamed"), E.DISPLAYCONTACT(E.EMAIL1("x@y.test"))))
    root = call(emu, [fn("u", rename), fn("bad", invoice(customer="C-404"))], transaction=True)
    assert [r.findtext("status") for r in results(root)] == ["aborted", "failure"]
    customer = emu.customers()[0]
    assert (customer["NAME"], customer["DISPLAYCONTACT.EMAIL1"]) == ("Acme Retail", "ap@acme.test")


@pytest.mark.parametrize("value", ["9" * 40, "NaN", "1e5", "-0.5", "", "1,5"])
def test_hostile_numbers_and_dates_fail_the_function_never_the_gateway(emu, value):
    emu.add_item("W-1", "Widget", on_hand={"WH1": 1})
    key = post_invoice(emu)
    hostile_day = E.datecreated(E.year(value or "x"), E.month("05"), E.day("03"))
    bodies = [invoice(lines=[line(value)]), payment([(key, value)]), payment([(key, "1")], amount=value),
              ic("Inventory Receipt", ("W-1", "WH1", value)),
              E.create_invoice(E.customerid("C-1"), hostile_day, E.termname("N30"), E.invoiceitems(line("1")))]
    root = call(emu, [fn(f"h{n}", body) for n, body in enumerate(bodies)])
    assert [r.findtext("status") for r in results(root)] == ["failure"] * len(bodies)
    assert len(emu.ar_invoices()) == 1 and emu.ar_payments() == [] and emu.on_hand("W-1", "WH1") == Decimal("1")


def test_a_replayed_controlid_is_refused_and_posts_once(emu):
    first = call(emu, [fn("inv-1", invoice()), fn("item-1", item())])
    assert [r.findtext("status") for r in results(first)] == ["success", "success"]
    again = call(emu, [fn("inv-1", invoice()), fn("item-1", item())])
    assert [r.findtext("errormessage/error/errorno") for r in results(again)] == [DUPLICATE_CONTROLID] * 2
    assert len(emu.ar_invoices()) == 1 and len(emu.items()) == 1
    refused = call(emu, [fn("pay-1", payment([("999999", "1.00")]))])  # failed: may run again
    assert failed(refused)
    ok(call(emu, [fn("pay-1", payment([(emu.ar_invoices()[0]["RECORDNO"], "1.00")]))]))


def test_a_lost_response_still_commits_once():
    emulator = IntacctEmulator(faults=FaultPlan(rate_lost_write=1.0))
    emulator.add_customer("C-1", "Acme")
    emulator.add_gl_account("4000")
    with pytest.raises(httpx.ReadTimeout):
        call(emulator, [fn("inv-1", invoice())])
    [stored] = emulator.ar_invoices()
    with pytest.raises(httpx.ReadTimeout):  # the payment commits and loses its response too
        call(emulator, [fn("pay-1", payment([(stored["RECORDNO"], "40.00")]))])
    emulator.faults.rate_lost_write = 0.0
    replay = call(emulator, [fn("inv-1", invoice()), fn("pay-1", payment([(stored["RECORDNO"], "40.00")]))])
    assert [r.findtext("errormessage/error/errorno") for r in results(replay)] == [DUPLICATE_CONTROLID] * 2
    assert len(emulator.ar_invoices()) == 1 and emulator.ar_invoices()[0]["TOTALDUE"] == "60.00"
    assert emulator.faults.counts["lost_write"] == 2


# -- the client's builders (ml_connector.connectors.intacct) against the emulator ----------------


def test_the_connector_builders_speak_the_emulators_dialect(multi):
    from ml_connector.connectors.intacct import functions_ap, functions_ar, functions_inventory, functions_parties
    from ml_connector.connectors.intacct import models_commerce as m
    from ml_connector.connectors.intacct.models import ApBillLine

    multi.add_custom_field("CUSTOMER", "COMMERCE_CUSTOMER_ID")
    when, us = date(2024, 5, 3), session(multi, "US01")
    customer = m.Customer(customer_id="CC-9", name="Jane", custom={"COMMERCE_CUSTOMER_ID": "9"},
                          contact=m.Contact(print_as="Jane", email="Jane@Example.test"))
    lines = (m.ArLine(account_no="4000", amount=Decimal("50"), location_id="US01"),)
    writes = [
        functions_parties.customer_create_function("cust-9", customer),
        functions_inventory.item_function("item-N", m.Item(item_id="W-NEW", name="New widget")),
        functions_ar.invoice_function("inv-9", m.NewArInvoice(
            customer_id="CC-9", date_created=when, term_name="N30", invoice_no="100000009", currency="USD",
            custom={"COMMERCE_ENTITY_ID": "9"}, lines=lines)),
        functions_ar.aradjustment_function("cm-9", m.ArAdjustment(
            customer_id="CC-9", date_created=when, adjustment_no="CM-9",
            lines=(m.ArLine(account_no="4000", amount=Decimal("-5"), location_id="US01"),))),
        functions_ap.apadjustment_function("ap-9", m.ApAdjustment(
            vendor_id="V-1", date_created=when, adjustment_no="VC-9",
            lines=(ApBillLine(account_no="6000", amount=Decimal("-5"), location_id="US01"),))),
        functions_ap.potransaction_function("po-9", m.PoTransaction(
            transaction_type="Purchase Order", date_created=when, vendor_id="V-1", document_no="PO-9",
            lines=(m.PoLine(item_id="W-1", quantity=Decimal("2"), price=Decimal("3")),))),
        functions_inventory.ictransaction_function("ship-9", m.IcTransaction(
            transaction_type="Inventory Shipper", date_created=when,
            lines=(m.IcLine(item_id="W-1", warehouse_id="WH-US", quantity=Decimal("1")),))),
    ]
    root = call(multi, writes, session_id=us)
    assert [r.findtext("status") for r in results(root)] == ["success"] * len(writes), etree.tostring(root)
    invoice_key = multi.ar_invoices("US01")[0]["RECORDNO"]
    pay = functions_ar.arpayment_function("pay-9", m.ArPayment(
        customer_id="CC-9", amount=Decimal("50"), bank_account_id="BOA", date_received=when, payment_method="EFT",
        applications=(m.ArPaymentApplication(invoice_key=invoice_key, amount=Decimal("50")),)))
    ok(call(multi, [pay], session_id=us))
    lookup = functions_parties.customer_lookup_function("email", "jane@example.test")
    data = ok(call(multi, [lookup], session_id=us)).find("data")
    assert [r.findtext("CUSTOMERID") for r in data] == ["CC-9"]
    assert multi.customer_balances("US01") == {"CC-9": Decimal("-5.00")}
    assert multi.on_hand("W-1", "WH-US") == Decimal("9") and multi.top_level_writes() == []
