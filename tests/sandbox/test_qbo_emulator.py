"""The QBO emulator over raw HTTP: the reference sheet's checklist, one behaviour per test."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.qbo.limits import QboLimits, Throttle
from ml_connector.sandbox.serve import serve_in_thread


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def basic(emu: QboEmulator, secret: str | None = None) -> str:
    raw = f"{emu.client_id}:{secret or emu.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def refresh(http: httpx.Client, emu: QboEmulator, token: str | None, secret: str | None = None) -> httpx.Response:
    return http.post("/oauth2/v1/tokens/bearer", data={"grant_type": "refresh_token", "refresh_token": token or ""},
                     headers={"Authorization": basic(emu, secret), "Accept": "application/json"})


class Api:
    """Raw HTTP against one realm with a fresh access token."""

    def __init__(self, emu: QboEmulator, realm: str | None = None) -> None:
        self.emu, self.realm = emu, realm or emu.realm_id
        self.http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
        self.token = refresh(self.http, emu, emu.current_refresh_token(self.realm)).json()["access_token"]

    def call(self, method: str, path: str, *, body=None, **params) -> httpx.Response:
        params.setdefault("minorversion", "75")
        content = json.dumps(body).encode() if body is not None else None
        return self.http.request(method, f"/v3/company/{self.realm}/{path}", params=params, content=content,
                                 headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                                          "Content-Type": "application/json"})

    def query(self, text: str) -> httpx.Response:
        return self.call("GET", "query", query=text)


def fault_code(response: httpx.Response) -> str:
    return response.json()["Fault"]["Error"][0]["code"]


def po(vendor_id: str, amount: str = "10.00", *, account: str = "1", **fields) -> dict:
    return {"VendorRef": {"value": vendor_id}, **fields, "Line": [
        {"DetailType": "AccountBasedExpenseLineDetail", "Amount": float(amount),
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}


@pytest.fixture
def world():
    emu = QboEmulator()
    account = emu.add_account("Supplies")["Id"]
    vendor = emu.add_vendor("Acme Supply")["Id"]
    return emu, Api(emu), vendor, account


# -- OAuth -----------------------------------------------------------------------------


def test_refresh_rotates_and_the_previous_refresh_token_is_dead():
    emu = QboEmulator()
    http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    first = emu.current_refresh_token()
    answer = refresh(http, emu, first)
    body = answer.json()
    assert answer.status_code == 200 and body["expires_in"] == 3600 and body["token_type"] == "bearer"
    assert body["x_refresh_token_expires_in"] == 8726400 and body["refresh_token"] != first
    reused = refresh(http, emu, first)
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant",
                                                           "error_description": "Incorrect or invalid refresh token"}
    assert refresh(http, emu, body["refresh_token"]).status_code == 200


def test_rotation_can_be_daily_like_production():
    clock = Clock()
    emu = QboEmulator(rotate_every=86_400, clock=clock)
    http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    first = emu.current_refresh_token()
    assert refresh(http, emu, first).json()["refresh_token"] == first  # same day: same token
    clock.now += 86_400
    assert refresh(http, emu, first).json()["refresh_token"] != first


def test_token_endpoint_needs_basic_client_auth_and_a_known_grant():
    emu = QboEmulator()
    http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    wrong = refresh(http, emu, emu.current_refresh_token(), secret="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    form = http.post("/oauth2/v1/tokens/bearer", data={"grant_type": "client_credentials"},
                     headers={"Authorization": basic(emu)})
    assert form.status_code == 400 and form.json()["error"] == "unsupported_grant_type"


def test_expired_access_token_is_a_lowercase_401_fault_3200():
    clock = Clock()
    emu = QboEmulator(clock=clock)
    api = Api(emu)
    assert api.call("GET", f"companyinfo/{emu.realm_id}").status_code == 200
    clock.now += 3601
    answer = api.call("GET", f"companyinfo/{emu.realm_id}")
    assert answer.status_code == 401 and answer.json()["fault"]["error"][0]["code"] == "3200"
    assert answer.headers["intuit_tid"]


def test_a_token_of_another_realm_is_forbidden():
    emu = QboEmulator()
    other = emu.add_realm("4620816365000000001")
    api = Api(emu, other)
    api.realm = emu.realm_id
    answer = api.call("GET", f"companyinfo/{emu.realm_id}")
    assert answer.status_code == 403 and fault_code(answer) == "3100"


# -- writes and SyncToken --------------------------------------------------------------


def test_create_assigns_id_synctoken_and_totals(world):
    emu, api, vendor, account = world
    answer = api.call("POST", "purchaseorder", body=po(vendor, "10.10", account=account, DocNumber="PO-1"))
    obj = answer.json()["PurchaseOrder"]
    assert answer.status_code == 200 and obj["SyncToken"] == "0" and obj["POStatus"] == "Open"
    assert obj["TotalAmt"] == 10.1 and obj["Line"][0]["Id"] == "1" and obj["domain"] == "QBO"
    assert obj["MetaData"]["CreateTime"].endswith("-07:00") and "time" in answer.json()
    assert isinstance(emu.entities("PurchaseOrder")[0]["TotalAmt"], Decimal)


def test_synctoken_increments_and_a_stale_one_is_fault_5010(world):
    emu, api, vendor, account = world
    obj = api.call("POST", "purchaseorder", body=po(vendor, account=account)).json()["PurchaseOrder"]
    one = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True, "Memo": "a"})
    assert one.json()["PurchaseOrder"]["SyncToken"] == "1"
    stale = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True, "Memo": "b"})
    assert stale.status_code == 400 and fault_code(stale) == "5010"
    assert stale.json()["Fault"]["type"] == "ValidationFault"
    assert emu.entities("PurchaseOrder")[0]["Memo"] == "a"


def test_sparse_merges_and_line_replaces_all_lines_full_update_clears(world):
    emu, api, vendor, account = world
    body = po(vendor, account=account, Memo="m", PrivateNote="p")
    body["Line"].append(dict(body["Line"][0]))
    obj = api.call("POST", "purchaseorder", body=body).json()["PurchaseOrder"]
    assert len(obj["Line"]) == 2 and obj["TotalAmt"] == 20
    new_line = [{"DetailType": "AccountBasedExpenseLineDetail", "Amount": 5,
                 "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]
    sparse = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True,
                                                     "Line": new_line}).json()["PurchaseOrder"]
    assert len(sparse["Line"]) == 1 and sparse["TotalAmt"] == 5 and sparse["Memo"] == "m"
    full = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "1", "sparse": False,
                                                   "VendorRef": {"value": vendor}, "Line": new_line})
    assert "Memo" not in full.json()["PurchaseOrder"] and "PrivateNote" not in full.json()["PurchaseOrder"]


def test_a_sparse_update_closes_a_po_and_a_stale_close_is_5010(world):
    emu, api, vendor, account = world
    obj = api.call("POST", "purchaseorder", body=po(vendor, account=account)).json()["PurchaseOrder"]
    assert obj["POStatus"] == "Open"
    closed = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True,
                                                     "POStatus": "Closed"}).json()["PurchaseOrder"]
    assert closed["POStatus"] == "Closed" and closed["SyncToken"] == "1" and closed["TotalAmt"] == 10
    stale = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True,
                                                    "POStatus": "Open"})
    assert stale.status_code == 400 and fault_code(stale) == "5010"
    assert emu.entities("PurchaseOrder")[0]["POStatus"] == "Closed"


def test_a_bill_linked_to_a_po_receives_it_and_updates_keep_the_link(world):
    emu, api, vendor, account = world
    obj = api.call("POST", "purchaseorder", body=po(vendor, account=account)).json()["PurchaseOrder"]
    bill = emu.receive(obj["Id"])
    assert bill["LinkedTxn"] == [{"TxnId": obj["Id"], "TxnType": "PurchaseOrder"}] and bill["TotalAmt"] == 10
    received = api.call("GET", f"purchaseorder/{obj['Id']}").json()["PurchaseOrder"]
    assert received["POStatus"] == "Closed" and received["SyncToken"] == "1"
    assert received["LinkedTxn"] == [{"TxnId": bill["Id"], "TxnType": "Bill"}]
    assert [c.operation for c in emu.changes() if c.entity == "PurchaseOrder"] == ["Create", "Update"]
    # the old SyncToken is stale now, and no update (sparse or full) drops or forges the link
    assert fault_code(api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0", "sparse": True,
                                                              "Memo": "x"})) == "5010"
    sparse = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "1", "sparse": True,
                                                     "LinkedTxn": []}).json()["PurchaseOrder"]
    full = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "2", "sparse": False,
                                                   **po(vendor, account=account)}).json()["PurchaseOrder"]
    assert sparse["LinkedTxn"] == full["LinkedTxn"] == [{"TxnId": bill["Id"], "TxnType": "Bill"}]


def test_a_bill_linking_some_po_lines_lists_the_bill_but_leaves_the_po_open(world):
    emu, api, vendor, account = world
    body = po(vendor, account=account)
    body["Line"].append(dict(body["Line"][0]))
    obj = api.call("POST", "purchaseorder", body=body).json()["PurchaseOrder"]
    line = {**body["Line"][0], "LinkedTxn": [{"TxnId": obj["Id"], "TxnType": "PurchaseOrder", "TxnLineId": "1"}]}
    part = api.call("POST", "bill", body={"VendorRef": {"value": vendor}, "Line": [line]}).json()["Bill"]
    partly = api.call("GET", f"purchaseorder/{obj['Id']}").json()["PurchaseOrder"]
    assert partly["POStatus"] == "Open" and partly["LinkedTxn"] == [{"TxnId": part["Id"], "TxnType": "Bill"}]
    rest = {**line, "LinkedTxn": [{**line["LinkedTxn"][0], "TxnLineId": "2"}]}
    whole = {"VendorRef": {"value": vendor}, "Line": [line, rest]}
    assert api.call("POST", "bill", body=whole).json()["Bill"]["TotalAmt"] == 20
    assert api.call("GET", f"purchaseorder/{obj['Id']}").json()["PurchaseOrder"]["POStatus"] == "Closed"


def test_references_names_and_required_fields_are_validated(world):
    emu, api, vendor, account = world
    assert fault_code(api.call("POST", "purchaseorder", body=po("999", account=account))) == "2500"
    assert fault_code(api.call("POST", "purchaseorder", body={"VendorRef": {"value": vendor}})) == "2020"
    assert fault_code(api.call("POST", "customer", body={"DisplayName": "acme supply"})) == "6240"
    assert fault_code(api.call("GET", "vendor/424242")) == "610"


def test_invoice_gets_the_subtotal_line_qbo_appends():
    emu = QboEmulator()
    customer = emu.add_customer("Jane Buyer")["Id"]
    item = emu.add_item("Widget", unit_price="2.50")["Id"]
    invoice = emu.add_invoice(customer, [{"item_id": item, "qty": 3, "unit_price": "2.50"}], doc_number="INV-1")
    assert [ln["DetailType"] for ln in invoice["Line"]] == ["SalesItemLineDetail", "SubTotalLineDetail"]
    assert invoice["TotalAmt"] == Decimal("7.50") == invoice["Balance"]


def test_delete_is_for_transactions_and_leaves_a_cdc_stub(world):
    emu, api, vendor, account = world
    obj = api.call("POST", "purchaseorder", body=po(vendor, account=account)).json()["PurchaseOrder"]
    gone = api.call("POST", "purchaseorder", body={"Id": obj["Id"], "SyncToken": "0"}, operation="delete")
    assert gone.json()["PurchaseOrder"] == {"domain": "QBO", "status": "Deleted", "Id": obj["Id"]}
    assert api.call("POST", "vendor", body={"Id": vendor, "SyncToken": "0"}, operation="delete").status_code == 400
    since = datetime.now(UTC) - timedelta(hours=1)
    cdc = api.call("GET", "cdc", entities="PurchaseOrder", changedSince=since.isoformat()).json()
    stub = cdc["CDCResponse"][0]["QueryResponse"][0]["PurchaseOrder"][0]
    assert stub["status"] == "Deleted" and stub["Id"] == obj["Id"] and set(stub) == {"domain", "status", "Id", "MetaData"}


# -- requestid -------------------------------------------------------------------------


def test_a_repeated_requestid_replays_the_first_answer(world):
    emu, api, vendor, account = world
    first = api.call("POST", "purchaseorder", body=po(vendor, account=account), requestid="rid-1")
    second = api.call("POST", "purchaseorder", body=po(vendor, "99", account=account), requestid="rid-1")
    assert first.content == second.content and len(emu.entities("PurchaseOrder")) == 1 and emu.replays == 1
    assert api.call("POST", "purchaseorder", body=po(vendor, account=account), requestid="x" * 51).status_code == 400


def test_requestid_replay_is_per_realm():
    emu = QboEmulator()
    other = emu.add_realm("4620816365000000002")
    for realm in (emu.realm_id, other):
        api = Api(emu, realm)
        assert api.call("POST", "vendor", body={"DisplayName": "Same"}, requestid="rid-shared").status_code == 200
    assert len(emu.entities("Vendor")) == 1 == len(emu.entities("Vendor", other))


def test_a_lost_write_commits_and_its_retry_replays(world):
    emu, api, vendor, account = world
    emu.faults.rate_lost_write = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.call("POST", "purchaseorder", body=po(vendor, account=account), requestid="rid-lost")
    emu.faults.rate_lost_write = 0.0
    answer = api.call("POST", "purchaseorder", body=po(vendor, account=account), requestid="rid-lost")
    assert answer.status_code == 200 and len(emu.entities("PurchaseOrder")) == 1


# -- query -----------------------------------------------------------------------------


def test_query_grammar_paging_and_the_missing_key_on_no_rows(world):
    emu, api, vendor, account = world
    for n in range(5):
        api.call("POST", "purchaseorder", body=po(vendor, str(10 + n), account=account, DocNumber=f"PO-{n}"))
    page = api.query("select * from PurchaseOrder where TotalAmt >= '11' AND DocNumber IN ('PO-1', 'PO-2', 'PO-4') "
                     "ORDER BY TotalAmt DESC STARTPOSITION 2 MAXRESULTS 1").json()["QueryResponse"]
    assert [p["DocNumber"] for p in page["PurchaseOrder"]] == ["PO-2"]
    assert page["startPosition"] == 2 and page["maxResults"] == 1
    assert api.query("SELECT * FROM PurchaseOrder WHERE DocNumber = 'nope'").json()["QueryResponse"] == {}
    count = api.query("SELECT COUNT(*) FROM PurchaseOrder WHERE DocNumber LIKE 'PO-%'").json()["QueryResponse"]
    assert count == {"totalCount": 5}
    since = api.query("SELECT * FROM PurchaseOrder WHERE Metadata.LastUpdatedTime >= '2000-01-01T00:00:00-08:00' "
                      "ORDERBY Metadata.LastUpdatedTime ASC STARTPOSITION 1 MAXRESULTS 1000")
    assert len(since.json()["QueryResponse"]["PurchaseOrder"]) == 5


def test_query_limits_and_parse_errors(world):
    emu, api, vendor, account = world
    assert fault_code(api.query("SELECT * FROM Vendor MAXRESULTS 1001")) == "4000"
    assert fault_code(api.query("SELECT * FROM Vendor STARTPOSITION 0")) == "4000"
    assert fault_code(api.query("SELECT * FROM Vendor WHERE DisplayName = 'a' OR Active = true")) == "4000"
    assert fault_code(api.query("SELECT * FROM Nonsense")) == "4000"
    assert api.query("SELECT * FROM Vendor").json()["QueryResponse"]["maxResults"] == 1


def test_list_queries_hide_inactive_rows_unless_asked(world):
    emu, api, vendor, account = world
    emu.edit("Vendor", vendor, Active=False)
    assert api.query("SELECT * FROM Vendor").json()["QueryResponse"] == {}
    both = api.query("SELECT * FROM Vendor WHERE Active IN (true, false)").json()["QueryResponse"]
    assert [v["Id"] for v in both["Vendor"]] == [vendor]


def test_faults_in_200_mode():
    emu = QboEmulator(faults_in_200=True)
    answer = Api(emu).query("SELECT * FROM Nonsense")
    assert answer.status_code == 200 and fault_code(answer) == "4000"


# -- CDC -------------------------------------------------------------------------------


def test_cdc_window_and_shared_cap():
    clock = Clock()
    emu = QboEmulator(clock=clock, limits=None)
    api = Api(emu)
    since = datetime.fromtimestamp(clock.now - 60, UTC).isoformat()
    for n in range(600):
        emu.add_vendor(f"V{n}")
        emu.add_customer(f"C{n}")
    answer = api.call("GET", "cdc", entities="Vendor,Customer", changedSince=since).json()
    blocks = answer["CDCResponse"][0]["QueryResponse"]
    assert len(blocks[0]["Vendor"]) == 600 and len(blocks[1]["Customer"]) == 400  # 1000 shared
    old = datetime.fromtimestamp(clock.now - 31 * 86_400, UTC).isoformat()
    assert fault_code(api.call("GET", "cdc", entities="Vendor", changedSince=old)) == "2010"


# -- batch -----------------------------------------------------------------------------


def test_batch_limits_and_per_item_faults(world):
    emu, api, vendor, account = world
    too_many = [{"bId": f"b{n}", "operation": "create", "Vendor": {"DisplayName": f"V{n}"}} for n in range(31)]
    assert fault_code(api.call("POST", "batch", body={"BatchItemRequest": too_many})) == "2010"
    long_id = [{"bId": "eleven-char", "operation": "create", "Vendor": {"DisplayName": "x"}}]
    assert api.call("POST", "batch", body={"BatchItemRequest": long_id}, requestid="r").status_code == 400
    items = [{"bId": "ok", "operation": "create", "Vendor": {"DisplayName": "Fresh"}},
             {"bId": "dup", "operation": "create", "Vendor": {"DisplayName": "Acme Supply"}},
             {"bId": "q", "Query": "SELECT * FROM Vendor WHERE DisplayName = 'Acme Supply'"}]
    answer = api.call("POST", "batch", body={"BatchItemRequest": items})
    out = answer.json()["BatchItemResponse"]
    assert answer.status_code == 200 and out[0]["Vendor"]["DisplayName"] == "Fresh"
    assert out[1]["Fault"]["Error"][0]["code"] == "6240" and out[2]["QueryResponse"]["Vendor"][0]["Id"] == vendor


# -- throttling and faults -------------------------------------------------------------


def test_per_minute_and_batch_throttles_answer_429_fault_3001():
    clock = Clock()
    emu = QboEmulator(clock=clock, limits=QboLimits(per_minute=3, batch_per_minute=1))
    api = Api(emu)
    batch = {"BatchItemRequest": [{"bId": "q", "Query": "SELECT * FROM Vendor"}]}
    assert api.call("POST", "batch", body=batch).status_code == 200
    limited = api.call("POST", "batch", body=batch)
    assert limited.status_code == 429 and fault_code(limited) == "3001" and "retry-after" not in limited.headers
    assert api.query("SELECT * FROM Vendor").status_code == 200
    assert api.query("SELECT * FROM Vendor").status_code == 200
    assert api.query("SELECT * FROM Vendor").status_code == 429  # 3 admitted in this minute
    clock.now += 61
    assert api.query("SELECT * FROM Vendor").status_code == 200


def test_concurrency_gauge_is_per_realm():
    throttle = Throttle(QboLimits(concurrent=2), time.time)
    assert throttle.enter("a") and throttle.enter("a") and not throttle.enter("a")
    assert throttle.enter("b")
    throttle.leave("a")
    assert throttle.enter("a") and throttle.rejected == 1


def test_injected_faults_use_qbo_shapes():
    emu = QboEmulator(FaultPlan(rate_429=1.0, retry_after=0.25))
    api_http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    answer = api_http.get(f"/v3/company/{emu.realm_id}/companyinfo/{emu.realm_id}")
    assert answer.status_code == 429 and fault_code(answer) == "3001" and answer.headers["retry-after"] == "0.25"


def test_served_over_real_http():
    emu = QboEmulator()
    served = serve_in_thread(emu)
    try:
        api = Api(emu)
        api.http = httpx.Client(base_url=served.base_url)
        answer = api.call("GET", f"companyinfo/{emu.realm_id}")
        assert answer.status_code == 200 and answer.json()["CompanyInfo"]["Id"] == "1"
    finally:
        served.stop()


def test_credentials_and_seeding_api():
    emu = QboEmulator()
    creds = emu.credentials()
    assert set(creds) == {"client_id", "client_secret", "realm_id", "refresh_token", "base_url", "token_url",
                          "verifier_token"}
    assert creds["token_url"] == creds["base_url"] + "/oauth2/v1/tokens/bearer"
    item = emu.add_item("Gadget", unit_price=3.3, sku="G-1")
    assert item["UnitPrice"] == Decimal("3.3") and item["Type"] == "NonInventory"
    assert [v["Name"] for v in emu.entities("Item")] == ["Gadget"]
