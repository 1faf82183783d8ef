"""SpsConfig and SpsTokenAuth against the SPS emulator's token endpoint."""

from __future__ import annotations

import pickle
import threading

import httpx
import pytest
from pydantic import ValidationError

from ml_connector.connectors._http import RetryPolicy, redact
from ml_connector.connectors.errors import AuthError, RateLimited, TransientError
from ml_connector.connectors.sps.auth import SpsConfig, SpsTokenAuth
from ml_connector.connectors.sps.client import SpsClient
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.sps import SpsEmulator

SECRET = "s3cret-value-for-tests"


class FirstFaults(FaultPlan):
    """Inject ``kind`` on the first ``n`` requests only, then behave."""

    def __init__(self, kind: str, n: int) -> None:
        super().__init__(retry_after=0.25)
        self.kind, self.left = kind, n

    def before(self):
        if self.left > 0:
            self.left -= 1
            return self.kind
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(emu: SpsEmulator, *, secret: str = SECRET, audience: str = "https://spscommerce.com", clock=None):
    emu.client_secret = SECRET
    cfg = SpsConfig(client_id=emu.client_id, client_secret=secret, base_url=emu.base_url,
                    token_url=emu.base_url + "/oauth/token", audience=audience)
    auth = SpsTokenAuth(cfg, clock=clock) if clock else SpsTokenAuth(cfg)
    sleeps: list[float] = []
    http = httpx.Client(transport=emu.transport(), auth=auth)
    return SpsClient(cfg, http=http, policy=RetryPolicy(sleep=sleeps.append)), auth, sleeps


def test_config_never_shows_the_secret_and_registers_it_for_redaction():
    cfg = SpsConfig(client_id="cid", client_secret=SECRET)
    assert SECRET not in repr(cfg) and SECRET not in str(cfg) and SECRET not in repr(SpsTokenAuth(cfg))
    assert redact(f"oops {SECRET}") == "oops ***"
    assert cfg.base_url == "https://api.spscommerce.com"
    assert cfg.token_url == "https://auth.spscommerce.com/oauth/token" and cfg.audience == "https://spscommerce.com"
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(ValidationError, match="frozen"):
        cfg.client_id = "other"


def test_one_token_serves_many_requests():
    emu = SpsEmulator()
    client, auth, _ = make(emu)
    for _ in range(3):
        client.list_page()
    assert emu.tokens_issued == 1 and auth.refreshes == 1


def test_token_expired_mid_run_is_refreshed_on_401_and_the_call_resent():
    emu = SpsEmulator()
    emu.put_out("PO1.xml", b"<x/>")
    client, auth, _ = make(emu)
    client.list_page()
    emu.expire_tokens()
    assert client.get("out/PO1.xml") == b"<x/>"
    assert emu.tokens_issued == 2 and auth.refreshes == 2


def test_token_is_refreshed_before_it_expires():
    clock = Clock()
    emu = SpsEmulator(token_ttl=600)
    client, auth, _ = make(emu, clock=clock)
    client.list_page()
    clock.now += 600 - 59  # inside the 60 s safety margin: refresh proactively, no 401 round trip
    before = emu.requests
    client.list_page()
    assert auth.refreshes == 2 and emu.requests - before == 2  # token + list, no rejected call


def test_still_401_after_one_refresh_is_an_auth_error():
    emu = SpsEmulator(token_ttl=0)  # every token is born expired
    client, auth, _ = make(emu)
    with pytest.raises(AuthError) as info:
        client.list_page()
    assert auth.refreshes == 2 and info.value.status == 401


def test_wrong_secret_is_an_auth_error_that_names_no_secret():
    emu = SpsEmulator()
    client, _, sleeps = make(emu, secret="wrong-secret-1234")
    with pytest.raises(AuthError, match="check client_id and client_secret") as info:
        client.ping()
    err = info.value
    assert "wrong-secret-1234" not in str(err) and "wrong-secret-1234" not in err.body_excerpt
    assert err.code == "access_denied" and err.operation == "token" and sleeps == []  # not retried


def test_unknown_audience_is_an_auth_error():
    client, _, _ = make(SpsEmulator(), audience="https://elsewhere.example")
    with pytest.raises(AuthError, match="Service not found"):
        client.ping()


def test_legacy_audience_is_accepted():
    client, _, _ = make(SpsEmulator(), audience="api://api.spscommerce.com/")
    client.ping()


def test_token_endpoint_429_is_retried_with_its_retry_after():
    emu = SpsEmulator(FirstFaults("429", 1))
    client, _, sleeps = make(emu)
    client.ping()
    # the token endpoint's Retry-After (plus at most 10% jitter), once
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.25 * 1.1 + 0.01 and emu.tokens_issued == 1


def test_token_endpoint_5xx_is_transient_and_retried():
    emu = SpsEmulator(FirstFaults("5xx", 2))
    client, _, sleeps = make(emu)
    client.ping()
    assert len(sleeps) == 2


def test_token_endpoint_429_forever_surfaces_rate_limited():
    emu = SpsEmulator(FirstFaults("429", 100))
    client, _, sleeps = make(emu)
    with pytest.raises(RateLimited) as info:
        client.ping()
    assert info.value.operation == "token" and info.value.retry_after == 0.25 and len(sleeps) == 4


def test_token_response_without_access_token_is_transient():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token_type": "Bearer"})

    cfg = SpsConfig(client_id="c", client_secret=SECRET)
    http = httpx.Client(transport=httpx.MockTransport(handler), auth=SpsTokenAuth(cfg))
    with pytest.raises(TransientError, match="without a usable access_token"):
        http.get("https://api.spscommerce.com/transactions/v5/data/out/")


def test_the_token_request_is_form_encoded_client_credentials():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            seen.update(httpx.QueryParams(request.content.decode()))
            seen["content-type"] = request.headers["content-type"]
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        seen["authorization"] = request.headers["authorization"]
        return httpx.Response(200, json={})

    cfg = SpsConfig(client_id="cid", client_secret=SECRET, token_url="https://auth.example/oauth/token")
    httpx.Client(transport=httpx.MockTransport(handler), auth=SpsTokenAuth(cfg)).get("https://api.example/x")
    assert seen == {"grant_type": "client_credentials", "client_id": "cid", "client_secret": SECRET,
                    "audience": "https://spscommerce.com", "content-type": "application/x-www-form-urlencoded",
                    "authorization": "Bearer tok"}


def test_concurrent_threads_share_one_refresh():
    emu = SpsEmulator()
    client, auth, _ = make(emu)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.list_page()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and emu.tokens_issued == 1 and auth.refreshes == 1
