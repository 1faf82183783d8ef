"""The SPS emulator takes what we upload to in/ and passes it on, and reports it in the history
as the reference sheet describes (status_log, paging, after/until, a reporting lag)."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from ml_connector.sandbox.sps import SpsEmulator

DATA = "/transactions/v5/data/"
OCTET = {"Content-Type": "application/octet-stream"}


class Wall:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def connect(emu: SpsEmulator) -> httpx.Client:
    client = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    form = {"grant_type": "client_credentials", "client_id": emu.client_id, "client_secret": emu.client_secret,
            "audience": "https://spscommerce.com"}
    client.headers["Authorization"] = "Bearer " + client.post("/oauth/token", data=form).json()["access_token"]
    return client


@pytest.fixture
def wall() -> Wall:
    return Wall()


def history(http: httpx.Client, **params) -> dict:
    response = http.get("/transactions/v5/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_without_pickup_in_keeps_every_file_and_nothing_is_delivered(wall):
    emu = SpsEmulator(wall=wall)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    wall.now += 10_000
    assert emu.inbox() == {"in/IN1.xml": b"one"} and emu.deliveries() == []


def test_a_file_is_taken_after_the_delay_and_recorded_as_one_delivery(wall):
    emu = SpsEmulator(wall=wall, pickup_after=30)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    uploaded = wall.now
    wall.now += 29
    assert http.get(DATA + "in/", params={"entryNamePrefix": "IN1"}).json()["results"][0]["path"] == "/in/IN1.xml"
    wall.now += 1
    assert http.get(DATA + "in/IN1.xml").status_code == 404
    assert emu.inbox() == {} and emu.deleted() == []  # taken by SPS, not deleted through the API
    [delivery] = emu.deliveries()
    assert (delivery.path, delivery.sha256, delivery.at) == ("in/IN1.xml", hashlib.sha256(b"one").hexdigest(),
                                                             uploaded + 30)
    assert emu.delivered_twice() == {}
    [entry] = history(http)["results"]
    assert entry["path"] == "in/IN1.xml" and entry["direction"] == "in"
    assert [s["status"] for s in entry["status_log"]] == ["uploaded", "deleted"]
    assert entry["status_log"][1]["message"] == "processed by SPS"


def test_an_overwrite_before_the_pickup_is_one_delivery_of_the_last_content(wall):
    emu = SpsEmulator(wall=wall, pickup_after=30)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    wall.now += 20
    http.post(DATA + "in/IN1.xml", content=b"two", headers=OCTET)
    wall.now += 20  # 40 s after the first upload, 20 after the second: not yet
    assert emu.inbox() == {"in/IN1.xml": b"two"} and emu.deliveries() == []
    wall.now += 10
    assert [d.sha256 for d in emu.deliveries()] == [hashlib.sha256(b"two").hexdigest()]


def test_an_upload_after_the_pickup_is_a_second_transaction(wall):
    emu = SpsEmulator(wall=wall, pickup_after=0)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)  # e.g. a blind retry of a lost response
    http.post(DATA + "in/IN2.xml", content=b"two", headers=OCTET)
    assert emu.delivered_twice() == {"in/IN1.xml": 2}
    assert [d.path for d in emu.deliveries()] == ["in/IN1.xml", "in/IN1.xml", "in/IN2.xml"]
    assert len(history(http)["results"]) == 3  # one entry per upload


def test_a_file_deleted_through_the_api_before_the_pickup_is_not_delivered(wall):
    emu = SpsEmulator(wall=wall, pickup_after=30)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    assert http.delete(DATA + "in/IN1.xml").status_code == 204
    wall.now += 60
    assert emu.deliveries() == []


def test_history_shows_an_event_only_once_the_lag_has_passed(wall):
    emu = SpsEmulator(wall=wall, pickup_after=10, history_lag=300)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    wall.now += 299
    assert history(http) == {"results": [], "paging": {"limit": 100, "offset": 0, "total_count": 0,
                                                       "next": None, "previous": None}}
    wall.now += 1
    [entry] = history(http)["results"]
    assert [s["status"] for s in entry["status_log"]] == ["uploaded"]
    wall.now += 10  # the pickup, 10 s after the upload, is now 300 s old too
    [entry] = history(http)["results"]
    assert [s["status"] for s in entry["status_log"]] == ["uploaded", "deleted"]
    assert entry["status_log"][1]["timestamp"].endswith("Z")


def test_history_pages_by_offset_and_limit_and_selects_by_upload_time(wall):
    emu = SpsEmulator(wall=wall)
    http = connect(emu)
    for n in range(5):
        http.post(DATA + f"in/IN{n}.xml", content=b"x", headers=OCTET)
        wall.now += 60
    first = history(http, limit=2)
    assert [r["path"] for r in first["results"]] == ["in/IN0.xml", "in/IN1.xml"]
    assert first["paging"]["total_count"] == 5 and "offset=2" in first["paging"]["next"]["url"]
    last = history(http, limit=2, offset=4)
    assert [r["path"] for r in last["results"]] == ["in/IN4.xml"] and last["paging"]["next"] is None
    # uploads at t0, t0+60, ..., t0+240: after t0+90 and until t0+180 leaves IN2 and IN3
    start = wall.now - 300
    after = httpx_time(start + 90)
    until = httpx_time(start + 180)
    window = history(http, after=after, until=until)
    assert [r["path"] for r in window["results"]] == ["in/IN2.xml", "in/IN3.xml"]
    bad = http.get("/transactions/v5/history", params={"after": "yesterday"})
    assert bad.status_code == 400 and bad.json()["context"][0]["field"] == "after"


def httpx_time(at: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))


def test_a_delivery_keeps_the_bytes_the_retailer_received(wall):
    emu = SpsEmulator(wall=wall, pickup_after=0)
    http = connect(emu)
    http.post(DATA + "in/IN1.xml", content=b"one", headers=OCTET)
    http.post(DATA + "in/IN1-2.xml", content=b"two", headers=OCTET)
    assert [(d.path, d.content) for d in emu.deliveries()] == [("in/IN1.xml", b"one"), ("in/IN1-2.xml", b"two")]
