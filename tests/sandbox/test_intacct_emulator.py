"""The Intacct XML gateway emulator, spoken to in raw XML (reference §9 checklist)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct.codec import Login
from ml_connector.connectors.intacct.models import ApBill, ApBillLine
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.intacct.emulator import CONTENT_TYPE, PATH, IntacctEmulator


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emu() -> IntacctEmulator:
    emulator = IntacctEmulator()
    emulator.add_vendor("V100", "Paper Supply Co")
    emulator.add_customer("C-0001", "Acme Retail")
    emulator.add_gl_account("6000")
    return emulator


def post(emulator: IntacctEmulator, body: bytes, *, method: str = "POST", path: str = PATH) -> httpx.Response:
    with httpx.Client(transport=emulator.transport()) as http:
        return http.request(method, emulator.base_url + path, content=body)


def envelope(emulator, functions, *, session_id=None, login=None, uniqueid=False, transaction=False,
             sender_password=None) -> bytes:
    if session_id is None and login is None:
        login = Login(emulator.user_id, emulator.company_id, emulator.user_password)
    return codec.build_request(functions, sender_id=emulator.sender_id,
                               sender_password=sender_password or emulator.sender_password, control_id="req-1",
                               uniqueid=uniqueid, transaction=transaction, session_id=session_id, login=login)


def call(emulator, functions, **options) -> etree._Element:
    response = post(emulator, envelope(emulator, functions, **options))
    assert response.status_code == 200 and response.headers["content-type"] == CONTENT_TYPE
    return etree.fromstring(response.content)


def session(emulator) -> str:
    root = call(emulator, [codec.get_api_session_function()])
    return root.findtext("operation/result/data/api/sessionid")


def bill_fn(controlid: str, record_id: str = "B-1", **line) -> codec.Function:
    line = {"account_no": "6000", "amount": Decimal("10.00"), **line}
    return codec.bill_function(controlid, ApBill(vendor_id=line.pop("vendor_id", "V100"), record_id=record_id,
                                                 when_created=date(2024, 5, 1), when_due=date(2024, 5, 31),
                                                 lines=(ApBillLine(**line),)))


def errornos(element: etree._Element) -> list[str]:
    return [e.text for e in element.iter("errorno")]


# --- transport and envelope ----------------------------------------------------------------


def test_only_post_on_the_gateway_path(emu):
    assert post(emu, b"", method="GET").status_code == 405
    assert post(emu, b"<request/>", path="/other").status_code == 404


@pytest.mark.parametrize("body", [
    b"<request><control>",
    b"<?xml version='1.0'?><request><control><senderid>\x01</senderid></control></request>",
    b"<request><control><senderid>&#x1;</senderid></control></request>",
    b'<!DOCTYPE request [<!ENTITY x "y">]><request><control><senderid>&x;</senderid></control></request>',
])
def test_malformed_forbidden_or_hostile_xml_is_a_control_level_parse_error(emu, body):
    response = post(emu, body)
    root = etree.fromstring(response.content)
    assert response.status_code == 200
    assert root.findtext("control/status") == "failure" and errornos(root) == ["XL03000003"]
    assert "XML Parse schema error" in root.findtext("errormessage/error/description2")


def test_schema_violations_are_parse_errors(emu):
    good = envelope(emu, [codec.get_api_session_function()])
    swapped = good.replace(b"<senderid>", b"<X>").replace(b"</senderid>", b"</X>")
    out_of_order = etree.fromstring(good)
    control = out_of_order.find("control")
    control.insert(0, control.find("password"))
    no_controlid = good.replace(b'<function controlid="', b'<function x="')
    long_controlid = good.replace(b'<function controlid="', b'<function controlid="' + b"c" * 257)
    two_bodies = good.replace(b"<getAPISession/>", b"<getAPISession/><getAPISession/>")
    big_page = envelope(emu, [codec.read_by_query_function("VENDOR")]).replace(b"<pagesize>100<", b"<pagesize>1001<")
    for body in (swapped, etree.tostring(out_of_order), no_controlid, long_controlid, two_bodies, big_page):
        assert errornos(etree.fromstring(post(emu, body).content)) == ["XL03000003"], body


def test_bad_sender_is_a_control_failure_and_bad_login_an_authentication_failure(emu):
    root = call(emu, [codec.get_api_session_function()], sender_password="nope")
    assert root.findtext("control/status") == "failure" and errornos(root) == ["XL03000006"]
    root = call(emu, [codec.get_api_session_function()], login=Login(emu.user_id, emu.company_id, "nope"))
    assert root.findtext("control/status") == "success"
    assert root.findtext("operation/authentication/status") == "failure"
    assert errornos(root.find("operation")) == ["XL03000006"] and root.find("operation/result") is None


def test_control_values_are_echoed_and_authentication_is_complete(emu):
    root = call(emu, [codec.get_api_session_function()])
    assert [root.findtext(f"control/{n}") for n in ("status", "senderid", "controlid", "uniqueid", "dtdversion")] == [
        "success", emu.sender_id, "req-1", "false", "3.0"]
    auth = root.find("operation/authentication")
    assert [c.tag for c in auth] == ["status", "userid", "companyid", "locationid", "sessiontimestamp", "sessiontimeout"]


# --- sessions ------------------------------------------------------------------------------


def test_get_api_session_returns_session_endpoint_and_must_be_alone(emu):
    root = call(emu, [codec.get_api_session_function()])
    api = root.find("operation/result/data/api")
    assert [c.tag for c in api] == ["sessionid", "endpoint", "locationid"]
    assert api.findtext("endpoint") == emu.base_url + PATH and root.find("operation/result/data").get("listtype") is None
    mixed = call(emu, [codec.get_api_session_function(), codec.read_by_query_function("VENDOR")])
    assert [r.findtext("status") for r in mixed.iter("result")] == ["failure", "success"]


def test_sessions_slide_and_expire(emu):
    clock = Clock()
    emulator = IntacctEmulator(session_ttl=10, clock=clock)
    sid = session(emulator)
    for step in (8, 8, 8):  # each call pushes the expiry 10 s past itself
        clock.now += step
        assert call(emulator, [codec.read_by_query_function("VENDOR")], session_id=sid).findtext(
            "operation/authentication/status") == "success"
    clock.now += 11
    root = call(emulator, [codec.read_by_query_function("VENDOR")], session_id=sid)
    assert root.findtext("operation/authentication/status") == "failure" and "XL03000006" in errornos(root)
    fresh = session(emulator)
    emulator.expire_sessions()
    assert call(emulator, [codec.read_by_query_function("VENDOR")], session_id=fresh).findtext(
        "operation/authentication/status") == "failure"
    unknown = call(emulator, [codec.read_by_query_function("VENDOR")], session_id="made-up")
    assert unknown.findtext("operation/authentication/status") == "failure"


# --- writes --------------------------------------------------------------------------------


def test_create_apbill_returns_recordno_and_stores_the_bill(emu):
    root = call(emu, [bill_fn("b1", amount=Decimal("10.005"))], uniqueid=True)
    data = root.find("operation/result/data")
    assert (data.get("listtype"), data.get("count")) == ("objects", "1")
    recordno = data.findtext("apbill/RECORDNO")
    assert data.findtext("apbill/RECORDID") == "B-1"
    [bill] = emu.bills()
    assert (bill["RECORDNO"], bill["controlid"], bill["total"]) == (recordno, "b1", Decimal("10.01"))


@pytest.mark.parametrize("function, fragment", [
    (bill_fn("b", vendor_id="V999"), "Invalid Vendor"),
    (bill_fn("b", account_no="9999"), "GL account"),
    (codec.Function(controlid="b", body=b"<create><APBILL><VENDORID>V100</VENDORID><WHENCREATED>2024-05-01"
                    b"</WHENCREATED><WHENDUE>05/31/2024</WHENDUE><APBILLITEMS><APBILLITEM><ACCOUNTNO>6000"
                    b"</ACCOUNTNO><TRX_AMOUNT>1</TRX_AMOUNT></APBILLITEM></APBILLITEMS></APBILL></create>"), "WHENCREATED"),
    (codec.Function(controlid="b", body=b"<create><APBILL><VENDORID>V100</VENDORID><WHENCREATED>05/01/2024"
                    b"</WHENCREATED><WHENDUE>05/31/2024</WHENDUE></APBILL></create>"), "at least one line"),
    (codec.Function(controlid="b", body=b"<create><APBILL><VENDORID>V100</VENDORID><WHENCREATED>05/01/2024"
                    b"</WHENCREATED><WHENDUE>05/31/2024</WHENDUE><APBILLITEMS><APBILLITEM><GLACCOUNTNO>6000"
                    b"</GLACCOUNTNO><TRX_AMOUNT>1</TRX_AMOUNT></APBILLITEM></APBILLITEMS></APBILL></create>"), "ACCOUNTNO"),
])
def test_invalid_bills_fail_alone_at_function_level(emu, function, fragment):
    root = call(emu, [function, bill_fn("ok", "B-2")])
    failed, posted = root.iter("result")
    assert failed.findtext("status") == "failure" and fragment in failed.findtext("errormessage/error/description2")
    assert failed.find("data").get("count") == "0"
    assert posted.findtext("status") == "success" and [b["RECORDID"] for b in emu.bills()] == ["B-2"]


def test_dimensions_are_checked_only_once_known(emu):
    assert call(emu, [bill_fn("a", "B-1", department_id="ANY")]).findtext("operation/result/status") == "success"
    emu.add_dimension("department", "OPS")
    root = call(emu, [bill_fn("b", "B-2", department_id="ANY"), bill_fn("c", "B-3", department_id="OPS")])
    assert [r.findtext("status") for r in root.iter("result")] == ["failure", "success"]
    with pytest.raises(ValueError):
        emu.add_dimension("project", "P1")


def test_create_vendor_and_customer_and_refuse_duplicates(emu):
    vendor = codec.Function(controlid="v",
                            body=b"<create><VENDOR><VENDORID>V300</VENDORID><NAME>New</NAME></VENDOR></create>")
    customer = codec.Function(controlid="c", body=b"<create><CUSTOMER><CUSTOMERID>C-9</CUSTOMERID><NAME>N</NAME>"
                                                   b"</CUSTOMER></create>")
    root = call(emu, [vendor, customer])
    assert [r.find("data")[0].tag for r in root.iter("result")] == ["vendor", "customer"]
    assert root.findtext("operation/result/data/vendor/VENDORID") == "V300"
    again = call(emu, [vendor.model_copy(update={"controlid": "v2"})])
    assert "already exists" in again.findtext(".//description2")


def test_transaction_true_rolls_back_everything(emu):
    root = call(emu, [bill_fn("t1", "B-1"), bill_fn("t2", "B-2", vendor_id="V999"), bill_fn("t3", "B-3")],
                transaction=True, uniqueid=True)
    statuses = [(r.findtext("status"), errornos(r)) for r in root.iter("result")]
    assert statuses[0] == ("aborted", ["XL03000009"]) and statuses[2] == ("aborted", ["XL03000009"])
    assert statuses[1][0] == "failure" and statuses[1][1][-1] == "XL03000009"
    assert emu.bills() == []


def test_uniqueid_refuses_a_completed_controlid_but_not_a_failed_one(emu):
    emulator = IntacctEmulator(duplicate_errorno="XL-DUP-TEST")
    emulator.add_gl_account("6000")
    failed = call(emulator, [bill_fn("k1", "B-1")], uniqueid=True)  # no vendor yet
    assert failed.findtext("operation/result/status") == "failure"
    emulator.add_vendor("V100", "Paper")
    assert call(emulator, [bill_fn("k1", "B-1")], uniqueid=True).findtext("operation/result/status") == "success"
    again = call(emulator, [bill_fn("k1", "B-1")], uniqueid=True)
    assert errornos(again) == ["XL-DUP-TEST"]
    assert emulator.count_bills_by_record_id() == {"B-1": 1}
    call(emulator, [bill_fn("k1", "B-1")], uniqueid=False)  # uniqueid=false runs it again
    assert emulator.count_bills_by_record_id() == {"B-1": 2}


# --- reads ---------------------------------------------------------------------------------


def seed(emu, count: int) -> None:
    for n in range(count):
        emu.add_ar_invoice(f"AR-{n:04d}", "C-0001", [{"amount": Decimal("5.00"), "item_id": "W"}],
                           date(2024, 5, 1), when_modified=datetime(2023, 12, 31, 23, 0) + timedelta(hours=n),
                           po_number="Jane's" if n == 3 else None)


def test_read_by_query_pages_with_result_id_until_nothing_remains(emu):
    seed(emu, 7)
    sid = session(emu)
    data = call(emu, [codec.read_by_query_function("ARINVOICE", "", page_size=3)], session_id=sid).find(".//data")
    assert {k: data.get(k) for k in ("listtype", "count", "totalcount", "numremaining")} == {
        "listtype": "arinvoice", "count": "3", "totalcount": "7", "numremaining": "4"}
    assert data[0].tag == "arinvoice" and data[0].find("ARINVOICEITEMS") is None
    seen = [r.findtext("RECORDID") for r in data]
    while data.get("numremaining") != "0":
        data = call(emu, [codec.read_more_function(data.get("resultId"))], session_id=sid).find(".//data")
        seen += [r.findtext("RECORDID") for r in data]
    assert seen == [f"AR-{n:04d}" for n in range(7)]
    closed = call(emu, [codec.read_more_function(data.get("resultId"))], session_id=sid)
    assert closed.findtext("operation/result/status") == "failure"
    empty = call(emu, [codec.read_by_query_function("ARINVOICE", "RECORDID = 'nope'")]).find(".//data")
    assert (empty.get("count"), empty.get("resultId")) == ("0", "")


@pytest.mark.parametrize("query, expected", [
    ("WHENMODIFIED >= '01/01/2024 00:00:00'", [1, 2, 3, 4, 5]),  # chronological, not alphabetical
    ("WHENMODIFIED < '01/01/2024 01:00:00' AND RECORDID != 'AR-0000'", [1]),
    ("RECORDID IN ('AR-0001', 'AR-0004') OR (RECORDID = 'AR-0002')", [1, 2, 4]),
    ("RECORDID NOT IN ('AR-0001')  AND RECORDID LIKE 'AR-000%'", [0, 2, 3, 4, 5]),
    ("DOCNUMBER = 'Jane\\'s'", [3]),
    ("DOCNUMBER IS NULL AND TRX_TOTALENTERED > 4.5", [0, 1, 2, 4, 5]),
])
def test_read_by_query_understands_the_query_dialect(emu, query, expected):
    seed(emu, 6)
    data = call(emu, [codec.read_by_query_function("ARINVOICE", query)]).find(".//data")
    assert [r.findtext("RECORDID") for r in data] == [f"AR-{n:04d}" for n in expected]


@pytest.mark.parametrize("query", ["NOPE = '1'", "RECORDID = ", "RECORDID = 'a' AND", "(RECORDID = 'a'"])
def test_bad_queries_fail_the_function(emu, query):
    root = call(emu, [codec.read_by_query_function("ARINVOICE", query)])
    assert root.findtext("operation/result/status") == "failure"


def test_query_filters_orders_and_pages_by_offset(emu):
    seed(emu, 6)
    condition = ("and", ("greaterthanorequalto", "WHENMODIFIED", "01/01/2024 00:00:00"),
                 ("in", "RECORDID", ["AR-0001", "AR-0002", "AR-0004", "AR-0005"]))
    function = codec.query_function("ARINVOICE", ["RECORDNO", "RECORDID"], condition,
                                    [("RECORDID", "descending")], pagesize=3, offset=1)
    data = call(emu, [function]).find(".//data")
    assert {k: data.get(k) for k in ("listtype", "totalcount", "offset", "count", "numremaining")} == {
        "listtype": "ARINVOICE", "totalcount": "4", "offset": "1", "count": "3", "numremaining": "0"}
    assert data[0].tag == "ARINVOICE" and [c.tag for c in data[0]] == ["RECORDNO", "RECORDID"]
    assert [r.findtext("RECORDID") for r in data] == ["AR-0004", "AR-0002", "AR-0001"]
    too_big = envelope(emu, [codec.query_function("ARINVOICE", ["RECORDNO"])]).replace(
        b"<pagesize>100<", b"<pagesize>2001<")
    assert errornos(etree.fromstring(post(emu, too_big).content)) == ["XL03000003"]


def test_read_returns_line_items(emu):
    seed(emu, 2)
    recordno = call(emu, [codec.read_by_query_function("ARINVOICE", "RECORDID = 'AR-0001'")]).findtext(
        ".//arinvoice/RECORDNO")
    row = call(emu, [codec.read_function("ARINVOICE", [recordno, "999999"])]).find(".//data/arinvoice")
    items = row.find("ARINVOICEITEMS")
    assert [i.tag for i in items] == ["arinvoiceitem"] and items.findtext("arinvoiceitem/TRX_AMOUNT") == "5.00"


def test_unknown_objects_fields_and_functions_fail_the_function(emu):
    for function in (codec.read_by_query_function("GLBATCH"), codec.read_by_query_function("VENDOR", fields=["NOPE"]),
                     codec.Function(controlid="x", body=b"<delete><object>APBILL</object><keys>1</keys></delete>")):
        assert call(emu, [function]).findtext("operation/result/status") == "failure"


# --- faults and inspection -----------------------------------------------------------------


def test_injected_429_carries_gw_0010_and_retry_after():
    emulator = IntacctEmulator(faults=FaultPlan(rate_429=1.0, retry_after=0.25))
    response = post(emulator, envelope(emulator, [codec.get_api_session_function()]))
    assert response.status_code == 429 and response.headers["retry-after"] == "0.25"
    assert errornos(etree.fromstring(response.content)) == ["GW-0010"]


def test_is_write_means_create_update_or_delete(emu):
    write = httpx.Request("POST", emu.endpoint_url, content=envelope(emu, [bill_fn("b")]))
    read = httpx.Request("POST", emu.endpoint_url, content=envelope(emu, [codec.read_by_query_function("VENDOR")]))
    garbage = httpx.Request("POST", emu.endpoint_url, content=b"<create")
    assert (emu.is_write(write), emu.is_write(read), emu.is_write(garbage)) == (True, False, False)


def test_lost_write_response_commits_the_bill():
    emulator = IntacctEmulator(faults=FaultPlan(rate_lost_write=1.0))
    emulator.add_vendor("V100", "Paper")
    emulator.add_gl_account("6000")
    with pytest.raises(httpx.ReadTimeout):
        post(emulator, envelope(emulator, [bill_fn("b")]))
    assert emulator.count_bills_by_record_id() == {"B-1": 1}


def test_credentials_and_seeding_api(emu):
    creds = emu.credentials()
    assert set(creds) == {"sender_id", "sender_password", "company_id", "user_id", "user_password", "endpoint_url"}
    assert creds["endpoint_url"] == emu.base_url + PATH
    assert emu.add_vendor("V100", "Again") == emu.add_vendor("V100", "Paper Supply Co")
    with pytest.raises(ValueError):
        emu.add_ar_invoice("AR-1", "C-NOPE", [{"amount": "1"}], date(2024, 5, 1))
    recordno = emu.add_ar_invoice("AR-1", "C-0001", [{"quantity": 3, "unit_price": Decimal("2.50")}], date(2024, 5, 1))
    assert emu.store.tables["ARINVOICE"][recordno]["TRX_TOTALENTERED"] == "7.50"


def test_served_over_real_http_on_loopback():
    from ml_connector.connectors._http import RetryPolicy
    from ml_connector.connectors.intacct.auth import IntacctConfig, SessionCache
    from ml_connector.connectors.intacct.client import IntacctClient
    from ml_connector.sandbox.serve import serve_in_thread

    emulator = IntacctEmulator()
    served = serve_in_thread(emulator)
    try:
        config = IntacctConfig(**emulator.credentials())
        with IntacctClient(config, policy=RetryPolicy(sleep=lambda s: None), sessions=SessionCache()) as client:
            assert client.ping() == f"{served.base_url}{PATH}"
    finally:
        served.stop()
