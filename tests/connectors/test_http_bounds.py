"""Every answer is bounded in size and time: a huge body stops being read at the cap (memory
stays small), and a body trickling a byte at a time ends the call at the deadline, although each
read is well within httpx's per-read timeout."""

from __future__ import annotations

import time

import httpx
import pytest

from ml_connector.connectors._http import Bounds, RetryPolicy, send
from ml_connector.connectors.errors import ResponseTooLarge, TransientError


class Counted(httpx.SyncByteStream):
    """A body of ``total`` bytes in ``chunk``-sized pieces, ``pause`` seconds apart; counts what was read."""

    def __init__(self, total: int, chunk: int = 65_536, pause: float = 0.0) -> None:
        self.total, self.chunk, self.pause, self.sent = total, chunk, pause, 0

    def __iter__(self):
        while self.sent < self.total:
            if self.pause:
                time.sleep(self.pause)
            piece = min(self.chunk, self.total - self.sent)
            self.sent += piece
            yield b"x" * piece


def _client(stream: Counted, headers: dict | None = None) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=stream)),
                        base_url="https://intacct.test")


def _send(client: httpx.Client, bounds: Bounds):
    return send(client, lambda: client.build_request("POST", "/ia/xml/xmlgw.phtml"), system="intacct",
                operation="readByQuery", policy=RetryPolicy(attempts=1), bounds=bounds)


def test_a_body_past_the_cap_stops_being_read():
    body = Counted(300 * 1024 * 1024)  # 300 MB, never declared
    with pytest.raises(ResponseTooLarge, match="reading stopped"):
        _send(_client(body), Bounds(max_bytes=1_000_000, deadline=60))
    assert body.sent < 1_000_000 + 2 * body.chunk


def test_a_declared_length_past_the_cap_is_refused_before_reading():
    body = Counted(10_000_000)
    with pytest.raises(ResponseTooLarge, match="declares"):
        _send(_client(body, {"content-length": "10000000"}), Bounds(max_bytes=1_000_000, deadline=60))
    assert body.sent == 0


def test_a_trickling_body_ends_the_call_at_the_deadline():
    body = Counted(1000, chunk=1, pause=0.05)  # 50 s in all; each read far under any read timeout
    started = time.monotonic()
    with pytest.raises(TransientError, match="no complete answer from intacct within 0.3 s"):
        _send(_client(body), Bounds(max_bytes=1_000_000, deadline=0.3))
    assert time.monotonic() - started < 5


def test_an_answer_within_both_bounds_is_read_whole():
    response = _send(_client(Counted(200_000)), Bounds(max_bytes=1_000_000, deadline=60))
    assert len(response.content) == 200_000


def test_the_intacct_client_is_bounded_by_default(monkeypatch):
    from ml_connector.connectors._http import mount, unmount
    from ml_connector.connectors.intacct.auth import IntacctConfig
    from ml_connector.connectors.intacct.client import IntacctClient

    monkeypatch.setenv("ML_CONNECTOR_MAX_RESPONSE_BYTES", "100000")
    body = Counted(50_000_000)
    mount("https://intacct.test", httpx.MockTransport(lambda request: httpx.Response(200, stream=body)))
    try:
        client = IntacctClient(IntacctConfig(endpoint_url="https://intacct.test/ia/xml/xmlgw.phtml", sender_id="s",
                                             sender_password="p", company_id="c", user_id="u", user_password="p"))
        with pytest.raises(ResponseTooLarge):
            client.list_vendors()
    finally:
        unmount("https://intacct.test")
    assert body.sent < 1_000_000
