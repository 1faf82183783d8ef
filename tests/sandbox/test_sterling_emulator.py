"""The Sterling emulator's own behaviour, spoken to in raw HTTP (no ml_connector client in
between), and its "partner plays back" 997 mode."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from ml_connector.connectors.sterling import SterlingClient, SterlingConfig, partner_inbox, partner_outbox
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.serve import serve_in_thread
from ml_connector.sandbox.sterling import SterlingEmulator

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sterling"
API = "/B2BAPIs/svc"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emu() -> SterlingEmulator:
    return SterlingEmulator()


@pytest.fixture
def http(emu) -> httpx.Client:
    creds = emu.credentials()
    with httpx.Client(transport=emu.transport(), base_url=emu.base_url + API,
                      auth=(creds["username"], creds["password"])) as client:
        yield client


def partner_body(name: str = "ACME_RETAIL", **override) -> dict:
    body = json.loads((FIXTURES / "tradingpartner_create.json").read_text())
    return {**body, "partnerName": name, "username": f"{name.lower()}01", "password": "Passw0rd!", **override}


def upload(http: httpx.Client, path: str, name: str, content: bytes) -> int:
    location = http.post("/documents/", json={"payload": base64.b64encode(content).decode()}).json()["Location"]
    body = {"documentId": location.rsplit("/", 1)[1], "mailboxPath": path, "name": name}
    response = http.post("/mailboxmessages/", json=body)
    assert response.status_code == 201
    return int(response.json()["Location"].rsplit("/", 1)[1])


def segments(content: bytes) -> list[list[str]]:
    """A 997 split the way the emulator wrote it: terminator after ISA16, element at byte 4."""
    text = content.decode("latin-1")
    element, terminator = text[3], text[105]
    return [s.split(element) for s in text.split(terminator) if s.strip()]


# -- auth -------------------------------------------------------------------------------

def test_basic_auth_is_required(emu):
    with httpx.Client(transport=emu.transport(), base_url=emu.base_url + API) as anonymous:
        response = anonymous.get("/tradingpartners/")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
        assert anonymous.get("/tradingpartners/", auth=(emu.username, "nope")).status_code == 401
        assert anonymous.get("/tradingpartners/", auth=("admin", emu.admin_password)).status_code == 404  # empty list


def test_an_account_without_api_user_is_forbidden(emu):
    emu.add_user("browser", "Browser-Passw0rd", permissions=("Mailbox Browser",))
    with httpx.Client(transport=emu.transport(), base_url=emu.base_url + API, auth=("browser", "Browser-Passw0rd")) as h:
        response = h.get("/tradingpartners/")
    assert response.status_code == 403 and response.json()["errorCode"] == 403


def test_user_accounts_own_record_other_records_and_admin_listing(emu, http):
    own = http.get(f"/useraccounts/{emu.username}").json()
    assert own["userId"] == emu.username and own["groups"] == [{"name": "APIUsers"}]
    assert http.get("/useraccounts/admin").status_code == 403
    assert http.get("/useraccounts/").status_code == 403
    admin = http.get("/useraccounts/", auth=("admin", emu.admin_password)).json()
    assert {u["userId"] for u in admin} == {"admin", emu.username}


# -- trading partners and mailboxes -----------------------------------------------------

def test_partner_create_returns_location_and_makes_its_mailboxes(emu, http):
    response = http.post("/tradingpartners/", json=partner_body())
    assert response.status_code == 200
    assert response.json() == {"Location": f"{emu.base_url}{API}/tradingpartners/ACME_RETAIL"}
    assert {"/ACME_RETAIL", "/ACME_RETAIL/Inbox", "/ACME_RETAIL/Outbox"} <= set(emu.mailbox_paths())
    shape = http.get("/tradingpartners/ACME_RETAIL").json()
    assert shape["_id"] == "ACME_RETAIL" and shape["_title"] == "TradingPartner(ACME_RETAIL)"
    assert shape["href"] == shape["$ref"] and "password" not in shape
    assert shape["doesUseSSH"] == {"code": True, "display": "Yes"}
    assert shape["authenticationType"] == {"code": "Local", "display": "Local"}


def test_partner_validation_and_conflicts(http):
    missing = http.post("/tradingpartners/", json={"partnerName": "X"})
    assert missing.status_code == 400 and "username" in missing.json()["errorDescription"]
    assert http.post("/tradingpartners/", json=partner_body(password="short")).status_code == 400
    assert http.post("/tradingpartners/", json=partner_body()).status_code == 200
    assert http.post("/tradingpartners/", json=partner_body()).status_code == 409
    renamed = http.put("/tradingpartners/ACME_RETAIL", json={**partner_body(), "username": "someoneelse"})
    assert renamed.status_code == 400
    update = {k: v for k, v in partner_body(phone="1").items() if k not in ("partnerName", "username")}
    assert http.put("/tradingpartners/ACME_RETAIL", json=update).json() == {"rowsAffected": 1}
    assert http.put("/tradingpartners/NOPE", json=update).status_code == 404
    assert http.delete("/tradingpartners/ACME_RETAIL").json() == {"rowsAffected": 1}
    assert http.get("/tradingpartners/ACME_RETAIL").json()["errorCode"] == 404


def test_lists_are_bare_arrays_cut_by_range_and_empty_is_404(emu, http):
    for i in range(5):
        emu.add_partner(f"TP{i}")
    first_three = http.get("/tradingpartners/", params={"_range": "1-3"}).json()
    assert [p["partnerName"] for p in first_three] == ["TP1", "TP2", "TP3"]
    empty = http.get("/tradingpartners/", params={"_range": "5-9"})
    assert empty.status_code == 404 and set(empty.json()) == {"errorCode", "errorDescription"}
    assert http.get("/tradingpartners/", params={"_range": "9-1"}).status_code == 400
    assert http.get("/tradingpartners/", params={"_range": "abc"}).status_code == 400


def test_search_for_uses_like_wildcards_as_a_prefix(emu, http):
    for name in ("ACME_RETAIL", "ACMEXRETAIL", "BETA"):
        emu.add_partner(name)

    def found(pattern: str) -> set[str]:
        return {p["partnerName"] for p in http.get("/tradingpartners/", params={"searchFor": pattern}).json()}

    assert found("ACME_RETAIL") == {"ACME_RETAIL", "ACMEXRETAIL"}
    assert found("%XR%") == {"ACMEXRETAIL"} and found("b") == {"BETA"} and found("acme") == {"ACME_RETAIL", "ACMEXRETAIL"}


def test_include_and_exclude_project_domain_fields_only(emu, http):
    emu.add_partner("ACME_RETAIL")
    included = http.get("/tradingpartners/ACME_RETAIL", params={"_include": "community"}).json()
    assert set(included) == {"_id", "_title", "href", "$ref", "community"}
    excluded = http.get("/tradingpartners/", params={"_exclude": "community,phone"}).json()[0]
    assert "community" not in excluded and "phone" not in excluded and "partnerName" in excluded


def test_mailbox_create_search_and_contents(emu, http):
    assert http.post("/mailboxes/", json={"path": "/Reports/Daily", "description": "d"}).status_code == 400
    created = http.post("/mailboxes/", json={"path": "/Reports/Daily", "description": "d", "createParentMailbox": True})
    assert created.status_code == 201
    assert http.post("/mailboxes/", json={"path": "/Reports/Daily", "description": "d"}).status_code == 409
    [parent] = http.get("/mailboxes/", params={"searchFor": "/Reports"}).json()[:1]
    assert parent["path"] == "/Reports" and parent["mailboxType"]["code"] == "R"
    upload(http, "/Reports", "r1.txt", b"hello")
    rows = http.get("/mailboxcontents/", params={"parentMailboxId": parent["_id"], "detail": "true"}).json()
    assert [(r["name"], r["type"]) for r in rows] == [("Daily", "mailbox"), ("r1.txt", "message")]
    assert rows[1]["creationDate"].endswith("+0000") and rows[1]["size"] == 5
    assert http.get("/mailboxcontents/").status_code == 400


# -- documents and messages -------------------------------------------------------------

def test_two_step_upload_get_update_delete(emu, http):
    emu.add_partner("ACME_RETAIL")
    created = http.post("/documents/", json={"payload": base64.b64encode(b"ISA*00").decode(), "documentName": "PO1"})
    document_id = created.json()["Location"].rsplit("/", 1)[1]
    assert created.status_code == 201 and document_id.startswith("emu:node1:")
    assert base64.b64decode(http.get(f"/documents/{document_id.replace(':', '%3A')}").json()["payload"]) == b"ISA*00"
    body = {"documentId": document_id, "mailboxPath": "/ACME_RETAIL/Inbox", "name": "PO1.edi", "extractableAlways": True}
    message_id = http.post("/mailboxmessages/", json=body).json()["Location"].rsplit("/", 1)[1]
    shape = http.get(f"/mailboxmessages/{message_id}").json()
    assert shape["_title"] == f"MailboxMessage({message_id})" and shape["extractableAlways"]["code"] is True
    assert shape["documentId"] == document_id and shape["mailboxPath"] == "/ACME_RETAIL/Inbox"
    assert http.put(f"/mailboxmessages/{message_id}", json={"extractableCount": 0}).json() == {"rowsAffected": 1}
    assert http.delete(f"/mailboxmessages/{message_id}").json() == {"rowsAffected": 1}
    assert http.get(f"/mailboxmessages/{message_id}").status_code == 404
    assert http.post("/mailboxmessages/", json={**body, "documentId": "nope"}).status_code == 400
    assert http.post("/mailboxmessages/", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415


def test_messagebatches_multipart_upload(emu, http):
    emu.add_partner("ACME_RETAIL")
    files = {"upstream": ("PO584616.edi", b"ISA*payload", "application/octet-stream")}
    response = http.post("/messagebatches/", files=files, data={"mailboxName": "/ACME_RETAIL/Inbox"})
    assert response.status_code == 201
    message = http.get(f"/mailboxmessages/{response.json()['Location'].rsplit('/', 1)[1]}").json()
    assert message["name"] == "PO584616.edi" and message["size"] == len(b"ISA*payload")
    assert emu.delivered("ACME_RETAIL")[0]["content"] == b"ISA*payload"
    assert http.post("/messagebatches/", files=files).status_code == 400


def test_unknown_routes_and_methods(http):
    assert http.get("/nothing/").json()["errorCode"] == 404
    assert http.delete("/documents/x").status_code == 405


def test_injected_faults_look_like_b2bi(emu, http):
    emu.faults = FaultPlan(rate_5xx=1.0)
    failed = http.get("/tradingpartners/")
    assert failed.status_code == 500 and "NullPointerException" in failed.json()["errorDescription"]
    emu.faults = FaultPlan(rate_429=1.0, retry_after=0.25)
    throttled = http.get("/tradingpartners/")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "0.25"


# -- partner playback -------------------------------------------------------------------

def test_accept_mode_answers_each_interchange_with_a_997(emu, http):
    emu.add_partner("ACME_RETAIL")
    emu.answer_with_997("accept")
    upload(http, "/ACME_RETAIL/Inbox", "PO584616.x12", (FIXTURES / "850_PO584616.x12").read_bytes())
    [ack] = emu.mailbox_messages("/ACME_RETAIL/Outbox")
    segs = segments(ack["content"])
    isa = segs[0]
    assert isa[6].strip() == "ACMERETAIL" and isa[8].strip() == "MLCONNECTOR"  # sender and receiver swapped
    assert [s[0] for s in segs] == ["ISA", "GS", "ST", "AK1", "AK2", "AK5", "AK9", "SE", "GE", "IEA"]
    assert segs[1][1] == "FA" and segs[3] == ["AK1", "PO", "101"] and segs[4] == ["AK2", "850", "0001"]
    assert segs[5] == ["AK5", "A"] and segs[6] == ["AK9", "A", "1", "1", "1"]
    assert segs[7] == ["SE", "6", "0001"] and segs[8][2] == segs[1][6] and segs[9][2] == isa[13]
    [record] = emu.acks("ACME_RETAIL")
    assert record["accepted"] and record["interchange"] == "000000101" and record["groups"] == [("PO", "101")]


def test_reject_mode_and_other_delimiters_with_several_groups(emu, http):
    emu.add_partner("ACME_RETAIL")
    emu.answer_with_997("reject")
    upload(http, "/ACME_RETAIL/Inbox", "batch.x12", (FIXTURES / "pipe_two_groups.x12").read_bytes())
    [ack] = emu.mailbox_messages("/ACME_RETAIL/Outbox")
    text = ack["content"].decode()
    assert text[3] == "|" and text[104] == ":" and text[105] == "~"
    segs = segments(ack["content"])
    assert [s for s in segs if s[0] == "AK1"] == [["AK1", "PO", "202"], ["AK1", "IN", "203"]]
    assert [s for s in segs if s[0] == "AK2"] == [["AK2", "850", "0001"], ["AK2", "850", "0002"], ["AK2", "810", "1001"]]
    assert all(s == ["AK5", "R", "5"] for s in segs if s[0] == "AK5")
    assert [s for s in segs if s[0] == "AK9"] == [["AK9", "R", "2", "2", "0"], ["AK9", "R", "1", "1", "0"]]
    assert [s for s in segs if s[0] == "SE"] == [["SE", "8", "0001"], ["SE", "6", "0002"]]
    assert [s for s in segs if s[0] == "GE"][0][1] == "2"


def test_none_mode_and_non_x12_and_997s_get_no_answer(emu, http):
    emu.add_partner("ACME_RETAIL")
    upload(http, "/ACME_RETAIL/Inbox", "PO.x12", (FIXTURES / "850_PO584616.x12").read_bytes())  # default: none
    emu.answer_with_997("accept")
    upload(http, "/ACME_RETAIL/Inbox", "notes.txt", b"hello")
    upload(http, "/ACME_RETAIL/Inbox", "997.x12", (FIXTURES / "997_only.x12").read_bytes())
    emu.answer_with_997("none", partner="ACME_RETAIL")
    upload(http, "/ACME_RETAIL/Inbox", "PO2.x12", (FIXTURES / "850_PO584616.x12").read_bytes())
    assert emu.mailbox_messages("/ACME_RETAIL/Outbox") == [] and emu.acks() == []
    assert len(emu.delivered("ACME_RETAIL")) == 4


def test_delay_holds_the_997_until_the_clock_passes():
    clock = Clock()
    emu = SterlingEmulator(clock=clock)
    emu.add_partner("ACME_RETAIL")
    emu.add_partner("SLOWPOKE")
    emu.answer_with_997("accept", delay=300)
    emu.answer_with_997("accept", delay=3600, partner="SLOWPOKE")
    x12 = (FIXTURES / "850_PO584616.x12").read_bytes()
    emu.put_message("/ACME_RETAIL/Inbox", "PO.x12", x12)
    emu.put_message("/SLOWPOKE/Inbox", "PO.x12", x12)
    assert emu.pending_acks() == 2 and emu.acks() == []
    clock.now = 300
    assert [a["partner"] for a in emu.acks()] == ["ACME_RETAIL"] and emu.pending_acks() == 1
    assert emu.flush_acks() == 1 and len(emu.acks()) == 2


def test_a_broken_interchange_is_recorded_not_answered(emu):
    emu.add_partner("ACME_RETAIL")
    emu.answer_with_997("accept")
    emu.put_message("/ACME_RETAIL/Inbox", "bad.x12", b"ISA*00*truncated~")
    assert emu.acks() == [] and "bad.x12" in emu.playback_errors[0]
    with pytest.raises(ValueError):
        emu.answer_with_997("maybe")


def test_client_round_trip_over_real_http_with_playback():
    emu = SterlingEmulator()
    emu.add_partner("ACME_RETAIL")
    emu.answer_with_997("accept")
    served = serve_in_thread(emu)
    try:
        creds = emu.credentials()
        assert creds["allow_insecure_http"] and creds["base_url"].startswith("http://127.0.0.1:")
        with SterlingClient(SterlingConfig(**creds)) as client:
            client.upload_message(partner_inbox("ACME_RETAIL"), "PO.x12", (FIXTURES / "850_PO584616.x12").read_bytes())
            [ack] = client.list_messages(partner_outbox("ACME_RETAIL"))
            assert b"AK5*A" in client.download_message(ack)
    finally:
        served.stop()
