"""SpsClient.get streams the file and stops past the byte cap: memory stays bounded whatever
size the server sends, declared or not, compressed or not."""

from __future__ import annotations

import gzip

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import BadDocument, TransientError
from ml_connector.connectors.sps.auth import SpsConfig
from ml_connector.connectors.sps.client import SpsClient

CHUNK = 64 * 1024
CAP = 1_000_000
HUGE = 1 << 30  # 1 GiB, never produced in full


class Endless(httpx.SyncByteStream):
    """A response body of ``total`` bytes made on demand, counting what the client pulled."""

    def __init__(self, total: int, chunk: bytes = b"x" * CHUNK) -> None:
        self.total, self.chunk, self.produced, self.closed = total, chunk, 0, False

    def __iter__(self):
        while self.produced < self.total:
            piece = self.chunk[: self.total - self.produced]
            self.produced += len(piece)
            yield piece

    def close(self) -> None:
        self.closed = True


def client_for(file_response) -> tuple[SpsClient, list[httpx.Request]]:
    """A client whose token endpoint answers and whose file GETs get ``file_response()``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        seen.append(request)
        return file_response()

    cfg = SpsConfig(client_id="id", client_secret="secret", base_url="https://sps.test", token_url="https://sps.test/oauth/token")
    client = SpsClient(cfg, http=httpx.Client(transport=httpx.MockTransport(handler)),
                       policy=RetryPolicy(sleep=lambda s: None))
    return client, seen


def test_an_undeclared_huge_body_is_abandoned_just_past_the_cap():
    body = Endless(HUGE)
    client, seen = client_for(lambda: httpx.Response(200, stream=body))
    with pytest.raises(BadDocument) as err:
        client.get("out/huge.xml", max_bytes=CAP)
    assert body.produced <= CAP + CHUNK  # read one chunk past the cap at most, then stopped
    assert body.closed
    assert len(seen) == 1  # refused, not retried
    assert err.value.code == "file-too-large"
    assert "\n" not in str(err.value) and "out/huge.xml" in str(err.value) and "1,000,000 byte limit" in str(err.value)


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    body = Endless(HUGE)
    client, _ = client_for(lambda: httpx.Response(200, headers={"Content-Length": str(HUGE)}, stream=body))
    with pytest.raises(BadDocument, match="declares 1,073,741,824 bytes"):
        client.get("out/huge.xml", max_bytes=CAP)
    assert body.produced == 0


def test_a_gzip_bomb_is_counted_as_it_inflates():
    bomb = gzip.compress(b"\0" * (50 * CAP))  # ~50 KB on the wire, 50 MB inflated
    assert len(bomb) < CAP
    client, _ = client_for(lambda: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb))
    with pytest.raises(BadDocument, match="reading stopped"):
        client.get("out/bomb.xml", max_bytes=CAP)


def test_the_client_default_cap_applies_and_a_file_within_it_is_returned_whole():
    client, _ = client_for(lambda: httpx.Response(200, headers={"Content-Encoding": "gzip"},
                                                  content=gzip.compress(b"<Orders/>" * 1000)))
    client.max_file_bytes = 9000
    assert client.get("out/ok.xml") == b"<Orders/>" * 1000  # exactly the cap: accepted, decoded once
    client.max_file_bytes = 8999
    with pytest.raises(BadDocument):
        client.get("out/ok.xml")
    assert client.get("out/ok.xml", max_bytes=10_000) == b"<Orders/>" * 1000


def test_a_body_cut_off_mid_stream_is_a_retried_transient_error():
    class Broken(Endless):
        def __iter__(self):
            yield b"<Orders>"
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    client, seen = client_for(lambda: httpx.Response(200, stream=Broken(10)))
    with pytest.raises(TransientError):
        client.get("out/cut.xml", max_bytes=CAP)
    assert len(seen) == RetryPolicy().attempts
