"""Hostile bodies at the webhook service: an oversized POST is refused while it streams in (the
service reads at most the limit), and a correctly signed but absurdly nested JSON body is a clear
400, stored nowhere, not a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from starlette.testclient import TestClient

from ml_connector.inbox import QBO
from ml_connector.ledger.store import Ledger
from ml_connector.webhooks.app import create_app
from ml_connector.webhooks.body import MAX_BODY

WEBHOOK = QBO.box  # the ledger integration holding the QBO notifications

TOKEN = "verifier-token"


@pytest.fixture()
def service(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    yield ledger, TestClient(create_app("t", verifier_token=TOKEN, ledger=ledger, realm_id="123", trigger=None))
    ledger.dispose()


class Counted:
    """A chunked body of ``total`` bytes; counts how much the service pulled."""

    def __init__(self, total: int, chunk: int = 65_536) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    def __iter__(self):
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


def _counting(app, pulled: list[int]):
    """The app, with every body byte it takes from the server counted."""

    async def counted(scope, receive, send):
        async def receive_counted():
            message = await receive()
            pulled[0] += len(message.get("body", b""))
            return message

        await app(scope, receive_counted, send)

    return counted


def test_an_unsigned_oversized_body_is_refused_while_it_streams(tmp_path):
    # Over real HTTP: the test client would buffer the whole body before the app saw any of it.
    import threading
    import time

    import httpx
    import uvicorn

    from ml_connector.sandbox.serve import free_port

    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    pulled = [0]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_counting(create_app("t", verifier_token=TOKEN, ledger=ledger,
                                                                    realm_id="123", trigger=None), pulled),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    body = Counted(300 * 1024 * 1024)
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/qbo", content=body, timeout=60,
                            headers={"intuit-signature": "AAAA"})
        assert answer.status_code == 413
    except httpx.HTTPError:  # the service answered and closed while the client was still sending
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    # 300 MB offered, the limit and the last read (uvicorn's reads are up to a few hundred
    # kilobytes) taken in; uvicorn discards the rest as it arrives
    assert pulled[0] <= MAX_BODY + 1024 * 1024


def test_a_declared_oversized_body_is_refused_before_reading(service):
    _, client = service
    answer = client.post("/webhooks/qbo", content=b"{}", headers={"content-length": str(300 * 1024 * 1024)})
    assert answer.status_code == 413


def test_a_signed_deeply_nested_body_is_a_clear_400_and_stored_nowhere(service):
    ledger, client = service
    body = b"[" * 100_000 + b"]" * 100_000
    signature = base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest()).decode()
    answer = client.post("/webhooks/qbo", content=body, headers={"intuit-signature": signature})
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["error"]
    assert ledger.status_counts(WEBHOOK) == {}
