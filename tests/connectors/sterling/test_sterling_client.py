"""SterlingClient against the in-process Sterling emulator: partners, mailboxes, messages,
``_range`` paging, retries and typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import (
    AuthError,
    DuplicateWrite,
    NotFound,
    RateLimited,
    RejectedError,
    TransientError,
)
from ml_connector.connectors.sterling import SterlingClient, SterlingConfig, TradingPartner, partner_inbox, partner_outbox
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.sterling import SterlingEmulator

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sterling"
API = "/B2BAPIs/svc"


class FirstFaults(FaultPlan):
    """Inject ``kind`` ('429', '5xx' or 'timeout') on the first ``n`` requests."""

    def __init__(self, kind: str, n: int) -> None:
        super().__init__(retry_after=0.5)
        self.kind, self.left = kind, n

    def before(self):
        if self.left > 0:
            self.left -= 1
            return self.kind
        return None


class Recorder:
    """A transport over the emulator that records requests and can lose chosen responses."""

    def __init__(self, emu: SterlingEmulator, lose: tuple[str, str] | None = None, times: int = 0) -> None:
        self.emu, self.lose, self.times = emu, lose, times
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        response = self.emu.handle(request)
        if self.lose == (request.method, request.url.path) and self.times > 0:
            self.times -= 1  # the write committed; its answer never arrives
            raise httpx.ReadTimeout("response lost", request=request)
        return response

    def ranges(self, path: str) -> list[str]:
        return [r.url.params["_range"] for r in self.calls if r.url.path == API + path]


@pytest.fixture
def emu() -> SterlingEmulator:
    return SterlingEmulator()


def connect(emu: SterlingEmulator, transport: httpx.BaseTransport | None = None) -> tuple[SterlingClient, list[float]]:
    sleeps: list[float] = []
    client = SterlingClient(SterlingConfig(**emu.credentials()), http=httpx.Client(transport=transport or emu.transport()),
                            policy=RetryPolicy(sleep=sleeps.append))
    return client, sleeps


def acme() -> TradingPartner:
    return TradingPartner.model_validate(json.loads((FIXTURES / "tradingpartner_create.json").read_text()))


# -- trading partners -------------------------------------------------------------------

def test_partner_create_get_list_update(emu):
    client, _ = connect(emu)
    assert client.create_trading_partner(acme(), password="Passw0rd!") == "ACME_RETAIL"
    assert emu.partners()[0]["partnerName"] == "ACME_RETAIL" and "password" not in emu.partners()[0]
    got = client.get_trading_partner("ACME_RETAIL")
    assert got.id == "ACME_RETAIL" and got.does_use_ssh is True and got.authentication_type == "Local"
    assert [p.partner_name for p in client.list_trading_partners()] == ["ACME_RETAIL"]
    client.update_trading_partner("ACME_RETAIL", got.model_copy(update={"phone": "5550001111"}))
    assert client.get_trading_partner("ACME_RETAIL").phone == "5550001111"
    assert {"/ACME_RETAIL", partner_inbox("ACME_RETAIL"), partner_outbox("ACME_RETAIL")} <= set(emu.mailbox_paths())


def test_find_partner_filters_wildcard_matches_to_the_exact_name(emu):
    emu.add_partner("ACMEXRETAIL")
    emu.add_partner("ACME_RETAIL_WEST")
    client, _ = connect(emu)
    assert client.find_trading_partner("ACME_RETAIL") is None  # "_" matched both, neither is exact
    emu.add_partner("ACME_RETAIL")
    assert client.find_trading_partner("ACME_RETAIL").partner_name == "ACME_RETAIL"


def test_partner_listing_pages_with_range(emu):
    for i in range(23):
        emu.add_partner(f"TP{i:03d}")
    recorder = Recorder(emu)
    client, _ = connect(emu, httpx.MockTransport(recorder))
    names = [p.partner_name for p in client.iter_trading_partners(page_size=10)]
    assert names == [f"TP{i:03d}" for i in range(23)]
    assert recorder.ranges("/tradingpartners/") == ["0-9", "10-19", "20-29"]


def test_a_duplicate_partner_is_a_duplicate_write(emu):
    client, _ = connect(emu)
    client.create_trading_partner(acme(), password="Passw0rd!")
    with pytest.raises(DuplicateWrite) as caught:
        client.create_trading_partner(acme(), password="Passw0rd!")
    assert isinstance(caught.value, RejectedError) and caught.value.status == 409 and caught.value.code == "409"


def test_required_fields_and_passwords_are_checked_before_sending(emu):
    client, _ = connect(emu)
    with pytest.raises(ValueError, match="password"):
        client.create_trading_partner(acme())
    with pytest.raises(ValueError, match="phone"):
        client.update_trading_partner("ACME_RETAIL", acme().model_copy(update={"phone": None}))
    assert emu.requests == 0


# -- messages ---------------------------------------------------------------------------

def test_upload_then_list_and_download_250_messages_with_range_paging(emu):
    emu.add_partner("ACME_RETAIL")
    recorder = Recorder(emu)
    client, _ = connect(emu, httpx.MockTransport(recorder))
    inbox = partner_inbox("ACME_RETAIL")
    ids = [client.upload_message(inbox, f"PO{i:06d}.edi", f"payload {i}".encode()) for i in range(250)]
    assert len(set(ids)) == 250
    messages = client.list_messages(inbox, page_size=100)
    assert [m.name for m in messages] == [f"PO{i:06d}.edi" for i in range(250)]
    assert [m.id for m in messages] == ids and all(m.mailbox_path == inbox for m in messages)
    assert recorder.ranges("/mailboxcontents/") == ["0-99", "100-199", "200-299"]
    assert client.download_message(messages[0]) == b"payload 0"
    assert client.download_message(messages[249].id) == b"payload 249"
    assert [d["content"] for d in emu.delivered("ACME_RETAIL")][:2] == [b"payload 0", b"payload 1"]


def test_sub_mailboxes_count_toward_a_page_but_are_not_messages(emu):
    emu.add_partner("ACME_RETAIL")  # /ACME_RETAIL holds Inbox and Outbox
    for i in range(99):
        emu.put_message("/ACME_RETAIL", f"F{i:03d}", b"x")
    client, _ = connect(emu)
    messages = client.list_messages("/ACME_RETAIL", page_size=100)
    assert len(messages) == 99 and messages[-1].name == "F098"


def test_an_empty_mailbox_lists_as_empty_and_a_missing_one_is_not_found(emu):
    emu.add_partner("ACME_RETAIL")
    client, _ = connect(emu)
    assert client.list_messages(partner_outbox("ACME_RETAIL")) == []
    with pytest.raises(NotFound):
        client.list_messages("/NOBODY/Inbox")


def test_ack_and_delete(emu):
    emu.add_partner("ACME_RETAIL")
    first = emu.put_message(partner_outbox("ACME_RETAIL"), "997_1.x12", b"ISA")
    emu.put_message(partner_outbox("ACME_RETAIL"), "997_2.x12", b"ISA")
    client, _ = connect(emu)
    client.mark_extracted(first)
    fresh = client.list_messages(partner_outbox("ACME_RETAIL"), only_extractable=True)
    assert [m.name for m in fresh] == ["997_2.x12"]
    client.delete_message(fresh[0].id)
    client.delete_message(fresh[0].id)  # already gone: done, as after a lost response
    with pytest.raises(NotFound):
        client.delete_message(fresh[0].id, missing_ok=False)
    assert [m["name"] for m in emu.mailbox_messages(partner_outbox("ACME_RETAIL"))] == ["997_1.x12"]


def test_a_lost_message_create_is_resolved_without_a_duplicate(emu):
    emu.add_partner("ACME_RETAIL")
    recorder = Recorder(emu, lose=("POST", API + "/mailboxmessages/"), times=1)
    client, sleeps = connect(emu, httpx.MockTransport(recorder))
    message_id = client.upload_message(partner_inbox("ACME_RETAIL"), "PO1.edi", b"ISA*...")
    stored = emu.mailbox_messages(partner_inbox("ACME_RETAIL"))
    assert [m["id"] for m in stored] == [int(message_id)] and len(sleeps) == 1
    posts = [r for r in recorder.calls if r.method == "POST" and r.url.path == API + "/mailboxmessages/"]
    assert len(posts) == 1  # found by (name, documentId); never sent twice


# -- errors and retries -----------------------------------------------------------------

def test_error_statuses_become_typed_errors(emu):
    client, _ = connect(emu)
    bad = acme().model_copy(update={"username": "abc"})
    with pytest.raises(RejectedError) as rejected:  # 400
        client.create_trading_partner(bad, password="Passw0rd!")
    assert rejected.value.status == 400 and "5 to 36" in rejected.value.message
    with pytest.raises(AuthError) as forbidden:  # 403: another user's record
        client.get_user_account("admin")
    assert forbidden.value.status == 403
    with pytest.raises(NotFound) as missing:  # 404 with Sterling's error object
        client.get_trading_partner("NOPE")
    assert missing.value.code == "404" and "does not exist" in str(missing.value)


def test_a_wrong_base_path_is_not_mistaken_for_an_empty_list(emu):
    creds = {**emu.credentials(), "base_url": emu.base_url + "/wrong"}
    client = SterlingClient(SterlingConfig(**creds), http=httpx.Client(transport=emu.transport()),
                            policy=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(NotFound) as caught:
        client.ping()
    assert caught.value.code is None


def test_429_and_5xx_are_retried_then_succeed():
    for kind in ("429", "5xx"):
        emu = SterlingEmulator(FirstFaults(kind, 2))
        client, sleeps = connect(emu)
        client.ping()
        assert len(sleeps) == 2
        if kind == "429":
            assert all(s >= 0.5 for s in sleeps)  # Retry-After honoured


def test_persistent_5xx_and_429_end_as_transient_errors():
    client, sleeps = connect(SterlingEmulator(FaultPlan(rate_5xx=1.0)))
    with pytest.raises(TransientError) as caught:
        client.ping()
    assert caught.value.status == 500 and "NullPointerException" in caught.value.message and len(sleeps) == 4
    client, _ = connect(SterlingEmulator(FaultPlan(rate_429=1.0, retry_after=0.01)))
    with pytest.raises(RateLimited):
        client.ping()


def test_timeouts_are_retried():
    client, sleeps = connect(SterlingEmulator(FirstFaults("timeout", 1)))
    client.ping()
    assert len(sleeps) == 1
