"""The SPS emulator's own behaviour, spoken to in raw HTTP (no ml_connector client in between)."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.serve import serve_in_thread
from ml_connector.sandbox.sps import SpsEmulator

DATA = "/transactions/v5/data/"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def token_for(http: httpx.Client, emu: SpsEmulator, **override) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": emu.client_id, "client_secret": emu.client_secret,
            "audience": "https://spscommerce.com"} | override
    return http.post("/oauth/token", data=form)


@pytest.fixture
def emu() -> SpsEmulator:
    return SpsEmulator()


@pytest.fixture
def http(emu) -> httpx.Client:
    client = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    client.headers["Authorization"] = "Bearer " + token_for(client, emu).json()["access_token"]
    return client


# -- token endpoint ------------------------------------------------------------------------


def test_token_from_form_or_json_with_either_audience(emu):
    raw = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    body = token_for(raw, emu).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    assert token_for(raw, emu, audience="api://api.spscommerce.com/").status_code == 200
    as_json = {"grant_type": "client_credentials", "client_id": emu.client_id,
               "client_secret": emu.client_secret, "audience": "https://spscommerce.com"}
    assert raw.post("/oauth/token", json=as_json).status_code == 200


@pytest.mark.parametrize("override, status, error", [
    ({"client_secret": "nope"}, 401, "access_denied"),
    ({"client_id": "nobody"}, 401, "access_denied"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"audience": "https://other.example"}, 403, "access_denied"),
])
def test_token_endpoint_refuses(emu, override, status, error):
    raw = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    response = token_for(raw, emu, **override)
    assert response.status_code == status and response.json()["error"] == error


def test_missing_invalid_and_expired_tokens_get_401_problem_json():
    clock = Clock()
    emu = SpsEmulator(token_ttl=100, clock=clock)
    raw = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    token = token_for(raw, emu).json()["access_token"]
    missing = raw.get(DATA + "out/", headers={"X-Request-ID": "req-42"})
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["requestId"] == "req-42" and missing.headers["x-request-id"] == "req-42"
    assert raw.get(DATA + "out/", headers={"Authorization": "Bearer forged"}).status_code == 401
    good = {"Authorization": f"Bearer {token}"}
    clock.now = 99
    assert raw.get(DATA + "out/", headers=good).status_code == 200
    clock.now = 100
    expired = raw.get(DATA + "out/", headers=good)
    assert expired.status_code == 401 and expired.json()["title"] == "Invalid Token"


def test_expire_tokens_invalidates_everything_issued(emu, http):
    assert http.get(DATA + "out/").status_code == 200
    emu.expire_tokens()
    assert http.get(DATA + "out/").status_code == 401


# -- files ---------------------------------------------------------------------------------


def test_get_returns_raw_bytes_and_paths_are_case_sensitive(emu, http):
    emu.put_out("PO1.xml", b"\x00raw<bytes>")
    response = http.get(DATA + "out/PO1.xml")
    assert response.content == b"\x00raw<bytes>" and response.headers["content-type"] == "application/octet-stream"
    assert http.get(DATA + "out/po1.xml").status_code == 404


def test_post_overwrites_and_answers_path_and_url(emu, http):
    octet = {"Content-Type": "application/octet-stream"}
    first = http.post(DATA + "in/IN1.xml", content=b"one", headers=octet)
    assert first.status_code == 200
    assert first.json() == {"path": "/in/IN1.xml", "url": emu.base_url + DATA + "in/IN1.xml"}
    http.post(DATA + "in/IN1.xml", content=b"two", headers=octet)
    assert emu.inbox() == {"in/IN1.xml": b"two"}


def test_post_needs_octet_stream_and_a_known_root(http):
    wrong = http.post(DATA + "in/IN1.xml", content=b"x", headers={"Content-Type": "text/xml"})
    assert wrong.status_code == 415 and wrong.json()["context"][0]["field"] == "Content-Type"
    outside = http.post(DATA + "tmp/x", content=b"x", headers={"Content-Type": "application/octet-stream"})
    assert outside.status_code == 404


def test_delete_answers_204_and_records_history(emu, http):
    emu.put_out("PO1.xml", b"x")
    http.get(DATA + "out/PO1.xml")
    assert http.delete(DATA + "out/PO1.xml").status_code == 204
    assert http.delete(DATA + "out/PO1.xml").status_code == 404
    assert emu.deleted() == ["out/PO1.xml"] and emu.files("out/") == {}
    [entry] = emu.history()
    assert [s["status"] for s in entry["status_log"]] == ["uploaded", "downloaded", "deleted"]
    served = http.get("/transactions/v5/history", params={"limit": 10}).json()
    assert served["paging"]["total_count"] == 1 and served["results"][0]["path"] == "out/PO1.xml"


# -- listing -------------------------------------------------------------------------------


def test_listing_is_sorted_with_base64_cursor_of_the_last_path(emu, http):
    for name in ("c.xml", "a.xml", "b.xml"):
        emu.put_out(name, b"x")
    first = http.get(DATA + "out/", params={"limit": 2}).json()
    assert [r["path"] for r in first["results"]] == ["/out/a.xml", "/out/b.xml"]
    assert {r["type"] for r in first["results"]} == {"file"}
    cursor = first["paging"]["next"]["cursor"]
    assert base64.b64decode(cursor) == b"/out/b.xml" and "cursor=" in first["paging"]["next"]["url"]
    second = http.get(DATA + "out/", params={"limit": 2, "cursor": cursor}).json()
    assert [r["path"] for r in second["results"]] == ["/out/c.xml"] and second["paging"]["next"] is None


def test_cursor_survives_deleting_the_files_already_listed(emu, http):
    for i in range(5):
        emu.put_out(f"PO{i}.xml", b"x")
    first = http.get(DATA + "out/", params={"limit": 2}).json()
    for r in first["results"]:
        http.delete(DATA + r["path"].lstrip("/"))
    rest = http.get(DATA + "out/", params={"cursor": first["paging"]["next"]["cursor"]}).json()
    assert [r["path"] for r in rest["results"]] == ["/out/PO2.xml", "/out/PO3.xml", "/out/PO4.xml"]


def test_subdirectories_are_entries_listed_once(emu, http):
    for name in ("a.xml", "arch/1.xml", "arch/2.xml", "b.xml"):
        emu.put_out(name, b"x")
    paths, cursor = [], None
    while True:
        body = http.get(DATA + "out/", params={"limit": 1} | ({"cursor": cursor} if cursor else {})).json()
        paths += [(r["path"], r["type"]) for r in body["results"]]
        if not body["paging"]["next"]:
            break
        cursor = body["paging"]["next"]["cursor"]
    assert paths == [("/out/a.xml", "file"), ("/out/arch/", "directory"), ("/out/b.xml", "file")]


def test_entry_name_prefix_is_case_sensitive(emu, http):
    for name in ("PO1.xml", "po2.xml", "IN1.xml"):
        emu.put_out(name, b"x")
    body = http.get(DATA + "out/", params={"entryNamePrefix": "PO"}).json()
    assert [r["path"] for r in body["results"]] == ["/out/PO1.xml"]


def test_empty_listing_has_null_results_and_paging(http):
    assert http.get(DATA + "out/").json() == {"results": None, "paging": None}


@pytest.mark.parametrize("params, code", [
    ({"limit": 0}, "INPUT_MIN_VALUE"), ({"limit": 1001}, "INPUT_MAX_VALUE"), ({"limit": "ten"}, "INPUT_INVALID_TYPE"),
    ({"cursor": "%%%"}, "INVALID_CURSOR"), ({"cursor": base64.b64encode(b"no-slash").decode()}, "INVALID_CURSOR"),
])
def test_bad_listing_parameters_are_400_problem_json(http, params, code):
    response = http.get(DATA + "out/", params=params, headers={"X-Request-ID": "r-1"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["requestId"] == "r-1" and body["context"][0]["code"] == code


# -- faults, inspection, serving -----------------------------------------------------------


def test_injected_429_is_problem_json_with_retry_after(emu, http):
    emu.faults = FaultPlan(rate_429=1.0, retry_after=2)
    response = http.get(DATA + "out/")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["title"] == "Too Many Requests"
    emu.faults = FaultPlan(rate_5xx=1.0)
    assert http.get(DATA + "out/").status_code == 503


def test_only_data_posts_and_deletes_are_writes(emu):
    base = emu.base_url
    assert emu.is_write(httpx.Request("POST", base + DATA + "in/x"))
    assert emu.is_write(httpx.Request("DELETE", base + DATA + "out/x"))
    assert not emu.is_write(httpx.Request("POST", base + "/oauth/token"))
    assert not emu.is_write(httpx.Request("GET", base + DATA + "out/x"))


def test_credentials_point_both_urls_at_this_server(emu):
    creds = emu.credentials()
    assert creds["token_url"] == emu.base_url + "/oauth/token" and creds["base_url"] == emu.base_url
    assert set(creds) == {"client_id", "client_secret", "base_url", "token_url", "audience"}


def test_concurrent_uploads_all_land(emu, http):
    def upload(i: int) -> None:
        for j in range(20):
            http.post(DATA + f"in/T{i}-{j}.xml", content=b"x", headers={"Content-Type": "application/octet-stream"})

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(emu.inbox()) == 120


def test_served_over_real_http_on_loopback():
    emu = SpsEmulator()
    emu.put_out("PO1.xml", b"<Orders/>")
    served = serve_in_thread(emu)
    try:
        with httpx.Client(base_url=served.base_url, timeout=10) as raw:
            token = token_for(raw, emu).json()["access_token"]
            listing = raw.get(DATA + "out/", headers={"Authorization": f"Bearer {token}"}).json()
        assert listing["results"][0]["url"] == served.base_url + DATA + "out/PO1.xml"
        assert json.loads(json.dumps(listing))["paging"]["next"] is None
    finally:
        served.stop()
