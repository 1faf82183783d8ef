"""SpsClient against the in-process SPS emulator: files, listing, retries, typed errors."""

from __future__ import annotations

import json

import httpx
import pytest

from ml_connector.connectors import _http
from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import AuthError, NotFound, RateLimited, RejectedError, TransientError
from ml_connector.connectors.sps.auth import SpsConfig
from ml_connector.connectors.sps.client import ListPage, SpsClient, check
from ml_connector.connectors.sps.pagination import CursorPaginator
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.sps import SpsEmulator


class FirstFaults(FaultPlan):
    """Inject ``kind`` on the first ``n`` requests (or lose the first ``n`` write responses)."""

    def __init__(self, kind: str, n: int) -> None:
        super().__init__(retry_after=0.5)
        self.kind, self.left = kind, n

    def before(self):
        if self.kind != "lost" and self.left > 0:
            self.left -= 1
            return self.kind
        return None

    def lose_response(self) -> bool:
        if self.kind == "lost" and self.left > 0:
            self.left -= 1
            return True
        return False


@pytest.fixture
def emu() -> SpsEmulator:
    return SpsEmulator()


def connect(emu: SpsEmulator) -> tuple[SpsClient, list[float]]:
    creds = emu.credentials()
    cfg = SpsConfig(client_id=creds["client_id"], client_secret=creds["client_secret"],
                    base_url=creds["base_url"], token_url=creds["token_url"], audience=creds["audience"])
    sleeps: list[float] = []
    client = SpsClient(cfg, http=httpx.Client(transport=emu.transport()), policy=RetryPolicy(sleep=sleeps.append))
    return client, sleeps


def test_put_get_delete_round_trip(emu):
    client, _ = connect(emu)
    assert client.put("in/IN000001.xml", b"<Invoices/>") == "in/IN000001.xml"
    assert emu.inbox() == {"in/IN000001.xml": b"<Invoices/>"}
    assert client.get("in/IN000001.xml") == b"<Invoices/>"
    client.put("in/IN000001.xml", b"<Invoices>v2</Invoices>")  # SPS overwrites
    assert client.get("/in/IN000001.xml") == b"<Invoices>v2</Invoices>"
    client.delete("in/IN000001.xml")
    assert emu.deleted() == ["in/IN000001.xml"] and emu.inbox() == {}
    with pytest.raises(NotFound):
        client.get("in/IN000001.xml")


def test_names_needing_escapes_survive_the_url(emu):
    client, _ = connect(emu)
    client.put("in/PO 1+2#3.json", b"{}")
    assert list(emu.inbox()) == ["in/PO 1+2#3.json"] and client.get("in/PO 1+2#3.json") == b"{}"


def test_cursor_pagination_across_2500_files(emu):
    names = [f"PO{i:06d}.xml" for i in range(2500)]
    for name in reversed(names):
        emu.put_out(name, name.encode())
    client, _ = connect(emu)
    pages = list(CursorPaginator(lambda cursor: client.list_page("out/", cursor=cursor, limit=1000)))
    assert [len(p.files) for p in pages] == [1000, 1000, 500]
    assert [f for p in pages for f in p.files] == [f"out/{n}" for n in names]  # sorted, no gaps, no repeats
    assert pages[-1].next_cursor is None and all(p.next_cursor for p in pages[:-1])


def test_prefix_filter_and_directories(emu):
    for name in ("PO1.xml", "PO2.json", "IN1.xml", "po3.xml", "archive/PO0.xml"):
        emu.put_out(name, b"x")
    client, _ = connect(emu)
    assert client.list_page(prefix="PO").files == ["out/PO1.xml", "out/PO2.json"]  # case-sensitive
    page = client.list_page()
    assert page.directories == ["out/archive/"] and "out/IN1.xml" in page.files
    assert client.list_page("out/archive").files == ["out/archive/PO0.xml"]


def test_empty_directory_with_null_results_and_paging(emu):
    client, _ = connect(emu)
    assert client.list_page("out/") == ListPage()


def test_429_with_retry_after_is_retried(emu):
    emu.faults = FirstFaults("429", 2)
    emu.put_out("PO1.xml", b"x")
    client, sleeps = connect(emu)
    assert client.list_page().files == ["out/PO1.xml"]
    # the server's Retry-After (plus at most 10% jitter), not our backoff
    assert len(sleeps) == 2 and all(0.5 <= s <= 0.5 * 1.1 + 0.01 for s in sleeps)


def test_persistent_429_surfaces_as_rate_limited(emu):
    emu.faults = FirstFaults("429", 100)
    client, sleeps = connect(emu)
    with pytest.raises(RateLimited) as info:
        client.list_page()
    assert info.value.retry_after == 0.5 and len(sleeps) == 4


def test_5xx_is_retried(emu):
    emu.faults = FirstFaults("5xx", 2)
    client, sleeps = connect(emu)
    client.ping()
    assert len(sleeps) == 2


def test_lost_write_response_is_found_in_sps_and_not_sent_again(emu):
    emu.faults = FirstFaults("lost", 1)
    client, sleeps = connect(emu)
    assert client.put("in/IN9.xml", b"<x/>") == "in/IN9.xml"
    assert emu.inbox() == {"in/IN9.xml": b"<x/>"} and sleeps == []
    assert len(emu.history()) == 1  # one upload: the file was there, nothing was resent


def test_errors_are_typed_and_carry_the_request_id(emu):
    client, _ = connect(emu)
    with pytest.raises(NotFound) as info:
        client.get("out/missing.xml")
    err = info.value
    assert err.status == 404 and err.request_id and err.system == "sps" and "missing.xml" in err.body_excerpt
    with pytest.raises(RejectedError):
        client.list_page(cursor="not-a-cursor!")
    with pytest.raises(NotFound):
        client.get("elsewhere/file.xml")


def test_arguments_are_checked_before_any_request(emu):
    client, _ = connect(emu)
    for bad in ("", "/", "out/../secret", "out/./x"):
        with pytest.raises(ValueError):
            client.get(bad)
    with pytest.raises(ValueError):
        client.list_page(limit=0)
    with pytest.raises(ValueError):
        client.list_page(limit=1001)
    assert emu.requests == 0


def test_ping_checks_credentials(emu):
    client, _ = connect(emu)
    client.ping()
    emu.client_secret = "rotated-secret"
    emu.expire_tokens()
    with pytest.raises(AuthError):
        client.ping()


def test_client_built_from_config_uses_mounted_transport_and_closes_it(emu):
    creds = emu.credentials()
    cfg = SpsConfig(client_id=creds["client_id"], client_secret=creds["client_secret"],
                    base_url=creds["base_url"], token_url=creds["token_url"])
    _http.mount(cfg.base_url, emu.transport())
    try:
        with SpsClient(cfg) as client:
            client.ping()
            assert creds["client_secret"] not in repr(client)
        assert client.http.is_closed
    finally:
        _http.unmount(cfg.base_url)


def test_threads_spread_over_pools_that_share_one_token_and_all_close(emu):
    """Threads of a client built from config use up to POOL_SHARDS connection pools (one
    pool's lock queued 30 threads), with one token between them, and close() closes each."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from ml_connector.connectors.sps import client as sps_client

    creds = emu.credentials()
    for n in range(40):
        emu.put_out(f"PO{n:03}.xml", b"<Order/>")
    cfg = SpsConfig(client_id=creds["client_id"], client_secret=creds["client_secret"],
                    base_url=creds["base_url"], token_url=creds["token_url"])
    _http.mount(cfg.base_url, emu.transport())
    try:
        client = SpsClient(cfg)
        bodies: dict[int, bytes] = {}
        threads = [threading.Thread(target=lambda n=n: bodies.update({n: client.get(f"out/PO{n:03}.xml")}))
                   for n in range(12)]  # twelve distinct threads, each takes the next pool
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with ThreadPoolExecutor(max_workers=4) as pool:
            bodies.update(zip(range(12, 40), pool.map(lambda n: client.get(f"out/PO{n:03}.xml"), range(12, 40)),
                              strict=True))
        assert [bodies[n] for n in range(40)] == [b"<Order/>"] * 40
        assert len(client._shards) == sps_client.POOL_SHARDS  # more threads than pools: every pool in use
        assert len({id(c) for c in client._shards}) == sps_client.POOL_SHARDS
        assert all(c.auth is client.auth for c in client._shards)
        assert emu.tokens_issued == 1
        client.close()
        assert all(c.is_closed for c in client._shards)
    finally:
        _http.unmount(cfg.base_url)


def test_a_client_passed_in_is_left_open(emu):
    client, _ = connect(emu)
    client.close()
    assert not client.http.is_closed


def problem(status: int, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={"Content-Type": "application/problem+json", **(headers or {})})


def test_check_turns_problem_json_into_typed_errors():
    body = {"title": "Bad Request", "status": 400, "detail": "limit must be between 1 and 1000.",
            "requestId": "req-1", "context": [{"code": "INPUT_MAX_VALUE", "field": "limit"}]}
    with pytest.raises(RejectedError) as info:
        check(problem(400, body), operation="list")
    err = info.value
    assert err.message == "Bad Request: limit must be between 1 and 1000."
    assert (err.code, err.request_id, err.operation, err.status) == ("INPUT_MAX_VALUE", "req-1", "list", 400)
    with pytest.raises(RateLimited) as info:
        check(problem(429, {"title": "Too Many Requests"}, {"Retry-After": "3"}))
    assert info.value.retry_after == 3.0
    with pytest.raises(AuthError):
        check(problem(401, {"title": "Invalid Token"}))
    with pytest.raises(TransientError):
        check(problem(503, {"title": "Service Unavailable"}))


def test_check_leaves_successes_and_non_json_bodies_alone():
    check(httpx.Response(200, json={"results": None}))
    check(httpx.Response(500, text="<html>oops</html>"))
    check(httpx.Response(400, content=b"not json", headers={"Content-Type": "application/json"}))


def test_unreadable_listing_is_transient(emu):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(200, json={"results": "nonsense"})

    cfg = SpsConfig(client_id="c", client_secret="secret-xyz")
    client = SpsClient(cfg, http=httpx.Client(transport=httpx.MockTransport(handler)),
                       policy=RetryPolicy(attempts=1, sleep=lambda s: None))
    with pytest.raises(TransientError, match="cannot read"):
        client.list_page()
