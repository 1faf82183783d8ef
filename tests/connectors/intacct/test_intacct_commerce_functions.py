"""Function builders for the Adobe Commerce integrations: element order as the reference sheet
(XSD) gives it, dates, money, custom fields, and forbidden XML characters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.connectors.intacct import _xml, codec, functions
from ml_connector.connectors.intacct.functions_ap import apadjustment_function, potransaction_function
from ml_connector.connectors.intacct.functions_ar import aradjustment_function, arpayment_function, invoice_function
from ml_connector.connectors.intacct.functions_inventory import ictransaction_function, item_function
from ml_connector.connectors.intacct.functions_parties import (
    customer_create_function,
    customer_lookup_function,
    vendor_create_function,
    vendor_lookup_function,
    vendor_update_function,
)
from ml_connector.connectors.intacct.models import ApBillLine
from ml_connector.connectors.intacct.models_commerce import (
    ApAdjustment,
    ArAdjustment,
    ArLine,
    ArPayment,
    ArPaymentApplication,
    Contact,
    Customer,
    IcLine,
    IcTransaction,
    Item,
    MailAddress,
    NewArInvoice,
    PoLine,
    PoTransaction,
    Vendor,
)

DAY = date(2024, 5, 4)


def tags(function) -> list[str]:
    return [child.tag for child in etree.fromstring(function.body)]


def is_subsequence(tags_seen: list[str], order: list[str]) -> bool:
    """Every tag is in ``order`` and they appear in that order (optional ones may be absent)."""
    positions = [order.index(t) for t in tags_seen]
    return positions == sorted(positions) and len(set(positions)) == len(positions)


# The sheet's orders (reference §5.4-§5.10), with the optional elements we never send left out.
PO_ORDER = ["transactiontype", "datecreated", "dateposted", "createdfrom", "vendorid", "documentno", "referenceno",
            "vendordocno", "termname", "datedue", "message", "shippingmethod", "returnto", "payto", "deliverto",
            "supdocid", "externalid", "basecurr", "currency", "exchratedate", "exchratetype", "exchrate",
            "customfields", "state", "potransitems", "subtotals"]
PO_LINE_ORDER = ["itemid", "itemdesc", "itemaliasid", "taxable", "warehouseid", "quantity", "unit",
                 "linelevelsimpletaxtype", "price", "sourcelinekey", "overridetaxamount", "deliverto", "tax",
                 "locationid", "departmentid", "memo"]
APADJ_ORDER = ["vendorid", "datecreated", "dateposted", "batchkey", "adjustmentno", "action", "billno", "description",
               "externalid", "basecurr", "currency", "exchratedate", "exchratetype", "exchrate", "nogl",
               "customfields", "inclusivetax", "taxsolutionid", "apadjustmentitems"]
LINEITEM_ORDER = ["glaccountno", "offsetglaccountno", "amount", "allocationid", "memo", "locationid", "departmentid",
                  "item1099", "key", "totalpaid", "totaldue", "customfields", "projectid", "customerid", "vendorid",
                  "employeeid", "itemid", "classid"]
INVOICE_ORDER = ["customerid", "datecreated", "dateposted", "datedue", "termname", "batchkey", "action", "invoiceno",
                 "ponumber", "description", "externalid", "billto", "shipto", "basecurr", "currency", "exchratedate",
                 "exchratetype", "exchrate", "nogl", "supdocid", "customfields", "taxsolutionid", "invoiceitems"]
ARPAY_ORDER = ["customerid", "paymentamount", "translatedamount", "batchkey", "bankaccountid", "undepfundsacct",
               "refid", "overpaylocid", "overpaydeptid", "datereceived", "paymentmethod", "basecurr", "currency",
               "exchratedate", "exchratetype", "exchrate", "cctype", "authcode", "arpaymentitem"]
ARADJ_ORDER = ["customerid", "datecreated", "dateposted", "batchkey", "adjustmentno", "action", "invoiceno",
               "description", "externalid", "basecurr", "currency", "exchratedate", "exchratetype", "exchrate", "nogl",
               "taxsolutionid", "aradjustmentitems"]
IC_ORDER = ["transactiontype", "datecreated", "createdfrom", "documentno", "referenceno", "message", "externalid",
            "basecurr", "customfields", "state", "ictransitems", "subtotals"]
IC_LINE_ORDER = ["itemid", "itemdesc", "warehouseid", "quantity", "unit", "cost", "sourcelinekey", "locationid",
                 "adjdocentrykey", "departmentid"]


def _po() -> PoTransaction:
    return PoTransaction(transaction_type="Purchase Order", date_created=DAY, vendor_id="V100", document_no="41",
                         reference_no="NW-PO-7781", vendor_doc_no="S-9", date_due=date(2024, 5, 20), message="m",
                         external_id="x", currency="USD", custom={"COMMERCE_ORDER": "41"},
                         lines=(PoLine(item_id="W-1", quantity=Decimal("10"), price=Decimal("4.255"), unit="Each",
                                       item_desc="Widget", warehouse_id="WH1", location_id="HQ", department_id="OPS",
                                       memo="n"),))


def test_potransaction_follows_the_xsd_sequence():
    function = potransaction_function("po-1", _po())
    root = etree.fromstring(function.body)
    assert root.tag == "create_potransaction" and is_subsequence(tags(function), PO_ORDER)
    assert root.find("returnto/contactname") is not None and root.find("payto/contactname") is not None
    assert [c.tag for c in root.find("datecreated")] == ["year", "month", "day"]
    assert root.findtext("datecreated/month") == "05" and root.findtext("datedue/day") == "20"
    line = root.find("potransitems/potransitem")
    assert is_subsequence([c.tag for c in line], PO_LINE_ORDER)
    assert line.findtext("price") == "4.26"  # rounded half-up to cents
    assert root.findtext("customfields/customfield/customfieldname") == "COMMERCE_ORDER"
    assert root.findtext("exchratetype") == "Intacct Daily Rate"


def test_apadjustment_links_the_bill_and_orders_its_lines():
    adjustment = ApAdjustment(vendor_id="V100", date_created=DAY, adjustment_no="CM-7", bill_no="CO-3",
                              description="d", external_id="e", currency="USD",
                              lines=(ApBillLine(account_no="6000", amount=Decimal("-20"), memo="m", location_id="HQ",
                                                department_id="OPS", class_id="C1", item_id="W-1"),))
    function = apadjustment_function("adj-1", adjustment)
    root = etree.fromstring(function.body)
    assert is_subsequence(tags(function), APADJ_ORDER) and root.findtext("billno") == "CO-3"
    line = root.find("apadjustmentitems/lineitem")
    assert is_subsequence([c.tag for c in line], LINEITEM_ORDER) and line.findtext("amount") == "-20.00"


def test_adjustment_lines_must_share_one_sign():
    lines = (ApBillLine(account_no="6000", amount=Decimal("-20")), ApBillLine(account_no="6000", amount=Decimal("5")))
    with pytest.raises(ValueError, match="all positive or all negative"):
        ApAdjustment(vendor_id="V100", date_created=DAY, adjustment_no="CM-7", lines=lines)


def test_invoice_carries_custom_field_and_due_date_in_order():
    invoice = NewArInvoice(customer_id="C-0001", date_created=DAY, date_due=date(2024, 6, 3), invoice_no="CO-3",
                           po_number="PO-1", description="d", external_id="e", currency="USD",
                           custom={"COMMERCE_ENTITY_ID": "3"},
                           lines=(ArLine(account_no="4000", amount=Decimal("500"), memo="m", location_id="HQ",
                                         department_id="OPS", item_id="W-1", class_id="C1"),))
    function = invoice_function("inv-1", invoice)
    root = etree.fromstring(function.body)
    assert is_subsequence(tags(function), INVOICE_ORDER)
    assert root.findtext("customfields/customfield/customfieldvalue") == "3"
    assert is_subsequence([c.tag for c in root.find("invoiceitems/lineitem")], LINEITEM_ORDER)
    with pytest.raises(ValueError, match="date_due or term_name"):
        NewArInvoice(customer_id="C", date_created=DAY, invoice_no="X", lines=invoice.lines)


def test_arpayment_applies_to_the_invoice_key():
    payment = ArPayment(customer_id="C-0001", amount=Decimal("500"), bank_account_id="BOA", ref_id="r",
                        date_received=DAY, payment_method="EFT", currency="USD",
                        applications=(ArPaymentApplication(invoice_key="3086", amount=Decimal("500")),))
    function = arpayment_function("pay-1", payment)
    root = etree.fromstring(function.body)
    assert is_subsequence(tags(function), ARPAY_ORDER)
    assert [(i.findtext("invoicekey"), i.findtext("amount")) for i in root.findall("arpaymentitem")] == [("3086", "500.00")]
    with pytest.raises(ValueError, match="exactly one"):
        ArPayment(customer_id="C", amount=Decimal(1), date_received=DAY, applications=payment.applications)
    with pytest.raises(ValueError, match="more than its amount"):
        ArPayment(customer_id="C", amount=Decimal(1), bank_account_id="B", date_received=DAY,
                  applications=payment.applications)


def test_aradjustment_order():
    adjustment = ArAdjustment(customer_id="C-0001", date_created=DAY, adjustment_no="CM-5", invoice_no="CO-3",
                              description="d", external_id="e", currency="USD",
                              lines=(ArLine(account_no="4000", amount=Decimal("-46.97"), location_id="HQ"),))
    function = aradjustment_function("aradj-1", adjustment)
    assert is_subsequence(tags(function), ARADJ_ORDER)
    assert etree.fromstring(function.body).findtext("invoiceno") == "CO-3"


def test_item_and_ictransaction_order():
    assert tags(item_function("it-1", Item(item_id="24-MB01", name="Bag"))) == ["itemid", "name", "status", "itemtype"]
    transaction = IcTransaction(transaction_type="Inventory Shipper", date_created=DAY, document_no="8",
                                reference_no="3", message="m", external_id="e", custom={"COMMERCE_SHIPMENT": "8"},
                                lines=(IcLine(item_id="24-MB01", warehouse_id="WH1", quantity=Decimal("3"), unit="Each",
                                              cost=Decimal("1.005"), item_desc="Bag", location_id="HQ",
                                              department_id="OPS"),))
    function = ictransaction_function("ic-1", transaction)
    root = etree.fromstring(function.body)
    assert is_subsequence(tags(function), IC_ORDER)
    line = root.find("ictransitems/ictransitem")
    assert is_subsequence([c.tag for c in line], IC_LINE_ORDER) and line.findtext("warehouseid") == "WH1"


def test_vendor_and_customer_generic_bodies():
    contact = Contact(print_as="Doe Supplies", email="jdoe@example.com",
                      address=MailAddress(address1="1 Oak", country_code="US"))
    vendor = Vendor(vendor_id="VC-3", name="Doe Supplies", contact=contact, custom={"COMMERCE_CUSTOMER_ID": "3"})
    root = etree.fromstring(vendor_create_function("v-1", vendor).body)
    assert root.tag == "create" and root[0].tag == "VENDOR"
    assert root.findtext("VENDOR/DISPLAYCONTACT/EMAIL1") == "jdoe@example.com"
    assert root.findtext("VENDOR/DISPLAYCONTACT/MAILADDRESS/COUNTRYCODE") == "US"
    assert root.findtext("VENDOR/COMMERCE_CUSTOMER_ID") == "3"
    assert etree.fromstring(vendor_update_function("v-2", vendor).body).tag == "update"
    customer = Customer(customer_id="CC-3", name="Doe", contact=contact, credit_limit=Decimal("2500"))
    assert etree.fromstring(customer_create_function("c-1", customer).body).findtext("CUSTOMER/CREDITLIMIT") == "2500.00"
    bad = vendor.model_copy(update={"custom": {"bad name<": "x"}})
    with pytest.raises(ValueError, match="integration name"):
        vendor_create_function("v-3", bad)


def test_writes_need_their_idempotency_key():
    with pytest.raises(ValueError, match="idempotency key"):
        potransaction_function("", _po())


def test_lookups_are_queries_by_id_email_or_custom_field():
    by_email = etree.fromstring(vendor_lookup_function("email", "jdoe@example.com").body)
    assert by_email.findtext("filter/equalto/field") == "DISPLAYCONTACT.EMAIL1"
    assert by_email.findtext("options/caseinsensitive") == "true"
    by_custom = etree.fromstring(customer_lookup_function("COMMERCE_CUSTOMER_ID", "3").body)
    assert "COMMERCE_CUSTOMER_ID" in [f.text for f in by_custom.findall("select/field")]
    assert etree.fromstring(vendor_lookup_function("id", "V1").body).findtext("filter/equalto/field") == "VENDORID"
    with pytest.raises(ValueError):
        vendor_lookup_function("name; DROP", "x")
    # a quote in the value is element text, not query syntax
    hostile = etree.fromstring(vendor_lookup_function("id", "V' OR '1'='1").body)
    assert hostile.findtext("filter/equalto/value") == "V' OR '1'='1"


def test_forbidden_characters_are_stripped_before_escaping():
    # XML 1.0 forbids these even as &#..; references: they must go before lxml escapes & and <.
    assert _xml.strip_forbidden("A\x00&\x0bB<\x1f\ufffeC\ud800") == "A&B<C"
    contact = Contact(print_as="Bolt\x00 & Nut\x08 <Co>", email="a@b.example")
    vendor = Vendor(vendor_id="V\x01200", name="Bolt\x00 & Nut\x08 <Co>", contact=contact)
    function = vendor_create_function("v-1", vendor)
    assert b"Bolt &amp; Nut &lt;Co&gt;" in function.body and b"&#" not in function.body
    request = codec.build_request([function], sender_id="s", sender_password="p", control_id="r", uniqueid=True,
                                  session_id="sess")
    root = _xml.parse(request)  # the hardened parser accepts the whole envelope
    assert root.findtext("operation/content/function/create/VENDOR/VENDORID") == "V200"
    assert not any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in request.decode())


def test_legacy_date_pads_and_skips_none():
    parent = etree.Element("x")
    functions.legacy_date(parent, "datecreated", date(2024, 1, 2))
    functions.legacy_date(parent, "datedue", None)
    assert etree.tostring(parent) == b"<x><datecreated><year>2024</year><month>01</month><day>02</day></datecreated></x>"
