"""The Intacct codec: request building, response classification, hardened parsing."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ml_connector.connectors.errors import (
    AuthError,
    BadDocument,
    DuplicateWrite,
    RateLimited,
    RejectedError,
    TransientError,
)
from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct._xml import XMLRefused, parse, strip_forbidden
from ml_connector.connectors.intacct.codec import Login, SessionExpired
from ml_connector.connectors.intacct.models import ApBill, ApBillLine

FIXTURES = Path(__file__).parents[2] / "fixtures" / "intacct"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def bill(**changes) -> ApBill:
    values = dict(
        vendor_id="V100", record_id="INV-0042", when_created=date(2024, 5, 1), when_due=date(2024, 5, 31),
        doc_number="PO-1", description="May supplies", currency="USD",
        lines=(ApBillLine(account_no="6000", amount=Decimal("125.505"), memo="paper", location_id="HQ",
                          department_id="OPS", class_id="C1", item_id="W-1"),),
    )
    values.update(changes)
    return ApBill(**values)


def request_root(functions, **changes) -> etree._Element:
    options = dict(sender_id="S", sender_password="sender-pw", control_id="req-1", uniqueid=True,
                   session_id="sess-token")
    options.update(changes)
    return etree.fromstring(codec.build_request(functions, **options))


# --- building ------------------------------------------------------------------------------


def test_control_block_follows_the_xsd_order_and_operation_is_explicit():
    root = request_root([codec.bill_function("bill-1", bill())])
    assert [c.tag for c in root.find("control")] == [
        "senderid", "password", "controlid", "uniqueid", "dtdversion", "includewhitespace"]
    assert root.findtext("control/uniqueid") == "true"
    assert root.findtext("control/dtdversion") == "3.0"
    assert root.findtext("control/includewhitespace") == "false"
    assert root.find("operation").get("transaction") == "false"
    assert root.findtext("operation/authentication/sessionid") == "sess-token"
    assert root.find("operation/content/function").get("controlid") == "bill-1"


def test_login_authentication_in_xsd_order_and_password_hidden_from_repr():
    login = Login("wsuser", "ACME", "user-pw", "ENTITY1")
    root = request_root([codec.get_api_session_function()], session_id=None, login=login, transaction=True)
    assert [c.tag for c in root.find("operation/authentication/login")] == ["userid", "companyid", "password", "locationid"]
    assert root.find("operation").get("transaction") == "true"
    assert "user-pw" not in repr(login)


def test_exactly_one_authentication_and_unique_controlids():
    function = codec.bill_function("bill-1", bill())
    with pytest.raises(ValueError):
        request_root([function], session_id=None)
    with pytest.raises(ValueError):
        request_root([function], login=Login("u", "c", "p"))
    with pytest.raises(ValueError):
        request_root([function, function])
    with pytest.raises(ValueError):  # a write never gets a random idempotency key
        codec.bill_function("", bill())


def test_bill_function_fields_dates_and_amounts():
    body = etree.fromstring(codec.bill_function("bill-1", bill()).body)
    apbill = body.find("APBILL")
    assert body.tag == "create"
    assert [c.tag for c in apbill] == ["VENDORID", "WHENCREATED", "WHENDUE", "RECORDID", "DOCNUMBER",
                                       "DESCRIPTION", "CURRENCY", "APBILLITEMS"]
    assert apbill.findtext("WHENCREATED") == "05/01/2024"
    item = apbill.find("APBILLITEMS/APBILLITEM")
    assert [c.tag for c in item] == ["ACCOUNTNO", "TRX_AMOUNT", "ENTRYDESCRIPTION", "LOCATIONID",
                                     "DEPARTMENTID", "CLASSID", "ITEMID"]
    assert item.findtext("TRX_AMOUNT") == "125.51"  # half-up to cents


@pytest.mark.parametrize("amount, wire", [
    ("1E+3", "1000.00"), ("-0.005", "-0.01"), ("12.344", "12.34"), ("0", "0.00"), ("99999999.999", "100000000.00"),
])
def test_amounts_are_plain_decimals_quantized_to_cents(amount, wire):
    function = codec.bill_function("b", bill(lines=(ApBillLine(account_no="6000", amount=Decimal(amount)),)))
    assert etree.fromstring(function.body).findtext(".//TRX_AMOUNT") == wire


def test_forbidden_characters_are_stripped_before_encoding():
    dirty = "a\x00b\x08c\x0bd\x0ce\x1ff\ufffeg\uffffh\ud800i\tj\nk"
    assert strip_forbidden(dirty) == "abcdefghi\tj\nk"
    function = codec.bill_function("b", bill(description=dirty, vendor_id="V\x01100"))
    body = request_root([function])  # lxml would refuse to build it if one survived
    assert body.findtext(".//DESCRIPTION") == "abcdefghi\tj\nk"
    assert body.findtext(".//VENDORID") == "V100"


def test_markup_in_values_is_escaped_not_injected():
    function = codec.bill_function("b", bill(description="</DESCRIPTION><VENDORID>EVIL</VENDORID>&amp;"))
    root = request_root([function])
    assert root.findtext(".//DESCRIPTION") == "</DESCRIPTION><VENDORID>EVIL</VENDORID>&amp;"
    assert [v.text for v in root.iter("VENDORID")] == ["V100"]


def test_read_functions():
    rbq = etree.fromstring(codec.read_by_query_function("ARINVOICE", "WHENMODIFIED >= '05/01/2024 00:00:00'",
                                                        page_size=1000).body)
    assert (rbq.tag, rbq.findtext("object"), rbq.findtext("fields"), rbq.findtext("pagesize")) == (
        "readByQuery", "ARINVOICE", "*", "1000")
    assert etree.fromstring(codec.read_more_function("rid-1").body).findtext("resultId") == "rid-1"
    with pytest.raises(ValueError):
        codec.read_by_query_function("ARINVOICE", page_size=1001)
    assert codec.quote("Jane's \\ Deli") == "'Jane\\'s \\\\ Deli'"


def test_query_function_with_nested_filter_orderby_and_paging():
    condition = ("and", ("in", "RECORDID", ["A", "B"]), ("greaterthanorequalto", "WHENMODIFIED", "05/01/2024 00:00:00"))
    body = etree.fromstring(codec.query_function("APBILL", ["RECORDNO", "RECORDID"], condition,
                                                 [("RECORDNO", "descending")], pagesize=2000, offset=4000,
                                                 show_private=True).body)
    assert [c.tag for c in body] == ["select", "object", "filter", "orderby", "options", "pagesize", "offset"]
    assert [v.text for v in body.findall("filter/and/in/value")] == ["A", "B"]
    assert body.find("orderby/order/descending") is not None
    assert body.findtext("options/showprivate") == "true"
    for bad in [("and", ("equalto", "A", "1")), ("in", "A", []), ("nope", "A", "1")]:
        with pytest.raises(ValueError):
            codec.query_function("APBILL", ["RECORDNO"], bad)
    with pytest.raises(ValueError):
        codec.query_function("APBILL", ["RECORDNO"], pagesize=2001)


# --- responses -----------------------------------------------------------------------------


def test_success_results_keys_and_session_timing():
    parsed = codec.parse_response(fixture("create_bills_success.xml"))
    assert [(r.controlid, r.ok, r.key) for r in parsed.results] == [
        ("bill-INV-0042", True, "3086"), ("bill-INV-0043", True, "3087")]
    assert parsed.results[0].list_type == "objects" and parsed.results[0].count == 1
    assert parsed.session_timeout - parsed.session_timestamp == timedelta(hours=24)
    assert parsed.control_id == "req-1"


def test_control_failure_xl03000003_raises_rejected_with_support_id():
    with pytest.raises(RejectedError) as caught:
        codec.parse_response(fixture("control_failure_XL03000003.xml"), operation="create_bills")
    err = caught.value
    assert not isinstance(err, (AuthError, TransientError))
    assert err.code == "XL03000003" and err.request_id == "p5rxS~YxEXrDEnVyr0F531W8X9bQAAACQ"
    assert "Opening and ending tag mismatch" in str(err) and "\n" not in str(err)


def test_auth_failure_is_auth_error_on_login_and_session_expired_on_session():
    body = fixture("auth_failure_XL03000006.xml")
    with pytest.raises(AuthError) as caught:
        codec.parse_response(body)
    assert not isinstance(caught.value, SessionExpired)
    assert caught.value.code == "XL03000006" and "Sign-in information is incorrect" in str(caught.value)
    with pytest.raises(SessionExpired):
        codec.parse_response(body, session_auth=True)


def test_function_failure_is_a_result_with_both_errors_on_one_line():
    parsed = codec.parse_response(fixture("function_failure_BL01001973.xml"))
    failed, created = parsed.results
    assert (failed.ok, created.ok, created.key) == (False, True, "77")
    assert type(failed.error) is RejectedError
    message = str(failed.error)
    assert "\n" not in message
    assert "The account number '5000.11' already exists" in message  # &#039; decoded
    assert "Enter unique account number" in message and "Could not create GL Account record." in message
    assert failed.error.code == "BL01001973" and failed.error.request_id == "aBc~XyZ"
    assert failed.error.operation == "create" and failed.count == 0


def test_read_by_query_page_attributes_and_records():
    [result] = codec.parse_response(fixture("read_by_query_page.xml")).results
    assert (result.list_type, result.count, result.total_count, result.num_remaining) == ("arinvoice", 2, 5, 3)
    assert result.result_id == "7765623330WYmR7BCwQzUAAJ2sXvUAAAAC5"
    assert result.records[0]["CUSTOMERNAME"] == "Jane's Deli"
    invoices = [codec.ar_invoice_from_record(r) for r in result.records]
    assert invoices[0].total == Decimal("500.00") and invoices[0].po_number == "PO-778"
    assert invoices[0].when_modified == datetime(2024, 5, 3, 14, 22, 5)
    assert invoices[1].total == Decimal("1100.00") and invoices[1].when_due is None and invoices[1].po_number is None


def test_unreadable_invoice_record_is_a_bad_document():
    with pytest.raises(BadDocument) as caught:
        codec.ar_invoice_from_record({"RECORDNO": "9", "CUSTOMERID": "C", "WHENCREATED": "2024-05-01",
                                      "WHENMODIFIED": "05/01/2024 00:00:00"})
    assert "9" in str(caught.value)


def test_get_api_session_result():
    parsed = codec.parse_response(fixture("get_api_session.xml"))
    assert parsed.results[0].records == [{"sessionid": "fAkESesSiOnId..",
                                          "endpoint": "https://na12.intacct.com/ia/xml/xmlgw.phtml",
                                          "locationid": ""}]
    assert parsed.session_timeout == datetime(2023, 4, 25, 2, 50, 25, tzinfo=UTC)


def test_gateway_rate_limit_in_body_is_rate_limited():
    with pytest.raises(RateLimited) as caught:
        codec.parse_response(fixture("rate_limited_GW-0010.xml"))
    assert caught.value.request_id == "AC47C2BE:D9EE_63EBC07F.59" and caught.value.retryable


@pytest.mark.parametrize("level, session_auth", [("control", False), ("authentication", True)])
def test_try_again_later_is_transient(level, session_auth):
    error = ("<errormessage><error><errorno>XL03000008</errorno><description/>"
             "<description2>Temporary problem</description2><correction>Please Try Again Later</correction>"
             "</error></errormessage>")
    if level == "control":
        body = f"<response><control><status>failure</status></control>{error}</response>"
    else:
        body = ("<response><control><status>success</status></control><operation><authentication>"
                f"<status>failure</status></authentication>{error}</operation></response>")
    with pytest.raises(TransientError):
        codec.parse_response(body.encode(), session_auth=session_auth)


def test_duplicate_controlid_and_aborted_results():
    duplicate = (b"<response><control><status>success</status></control><operation><authentication>"
                 b"<status>success</status></authentication><result><status>failure</status><function>create"
                 b"</function><controlid>b-1</controlid><errormessage><error><errorno>DUPLICATE_CONTROLID</errorno>"
                 b"</error></errormessage></result></operation></response>")
    [result] = codec.parse_response(duplicate).results
    assert isinstance(result.error, DuplicateWrite)
    [custom] = codec.parse_response(duplicate.replace(b"DUPLICATE_CONTROLID", b"XYZ"),
                                    duplicate_errornos={"XYZ"}).results
    assert isinstance(custom.error, DuplicateWrite)
    aborted, failed = codec.parse_response(fixture("transaction_aborted.xml")).results
    assert type(aborted.error) is TransientError and type(failed.error) is RejectedError
    assert "Invalid Vendor 'V9' specified." in str(failed.error)


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<response><control><status>succ", b"<html><body>502 Bad Gateway</body></html>",
    b"<response/>", b"<response><control><status>success</status></control></response>",
])
def test_unreadable_bodies_are_transient_with_an_excerpt(body):
    with pytest.raises(TransientError) as caught:
        codec.parse_response(body)
    assert type(caught.value) is TransientError


# --- hardened parsing ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hostile_entity_bomb.xml", "hostile_external_entity.xml"])
def test_hostile_responses_are_refused_without_expansion(name):
    started = time.perf_counter()
    with pytest.raises(TransientError) as caught:
        codec.parse_response(fixture(name))
    assert "hostile" in str(caught.value)
    assert "root:" not in caught.value.body_excerpt  # no /etc/passwd content
    assert time.perf_counter() - started < 0.5


def test_a_doctype_hidden_in_another_encoding_is_still_refused():
    body = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "boom">]><r>&x;</r>').encode("utf-16")
    with pytest.raises(XMLRefused) as caught:
        parse(body)
    assert caught.value.hostile


def test_parser_never_fetches_or_resolves_entities_even_without_the_byte_scan():
    # The lxml parser itself is hardened: even a body that slipped past the scan is not expanded.
    from ml_connector.connectors.intacct._xml import _parser

    body = fixture("hostile_external_entity.xml")
    root = etree.fromstring(body, _parser())
    assert "root:" not in etree.tostring(root).decode()


def test_errors_survive_pickling_with_their_context():
    parsed = codec.parse_response(fixture("function_failure_BL01001973.xml"))
    original = parsed.results[0].error
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is RejectedError and str(copy) == str(original)
    assert (copy.code, copy.request_id, copy.operation) == (original.code, original.request_id, original.operation)
    for body, kwargs in [("auth_failure_XL03000006.xml", {"session_auth": True}), ("rate_limited_GW-0010.xml", {})]:
        with pytest.raises(Exception) as caught:
            codec.parse_response(fixture(body), **kwargs)
        clone = pickle.loads(pickle.dumps(caught.value))
        assert type(clone) is type(caught.value) and str(clone) == str(caught.value)
    result_copy = pickle.loads(pickle.dumps(parsed.results[0]))
    assert result_copy.controlid == "acct-1" and isinstance(result_copy.error, RejectedError)


def test_legacy_key_and_delete_without_data():
    body = (b"<response><control><status>success</status></control><operation><authentication><status>success"
            b"</status></authentication><result><status>success</status><function>create_customer</function>"
            b"<controlid>c-1</controlid><key>CUST-NEW-1</key></result><result><status>success</status>"
            b"<function>delete</function><controlid>d-1</controlid></result></operation></response>")
    legacy, deleted = codec.parse_response(body).results
    assert (legacy.key, legacy.ok) == ("CUST-NEW-1", True)
    assert (deleted.ok, deleted.key, deleted.records, deleted.count) == (True, None, [], None)
