"""SterlingConfig and the client's refusals: plain http, admin accounts, bad credentials."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import ValidationError

from ml_connector.connectors._http import RetryPolicy, redact
from ml_connector.connectors.errors import AuthError
from ml_connector.connectors.sterling import SterlingClient, SterlingConfig
from ml_connector.connectors.sterling.auth import basic_token
from ml_connector.sandbox.sterling import SterlingEmulator


def make_client(emu: SterlingEmulator, creds: dict | None = None, transport=None) -> SterlingClient:
    cfg = SterlingConfig(**(creds or emu.credentials()))
    http = httpx.Client(transport=transport or emu.transport())
    return SterlingClient(cfg, http=http, policy=RetryPolicy(sleep=lambda s: None))


def test_plain_http_is_refused_without_the_explicit_flag():
    with pytest.raises(ValidationError) as caught:
        SterlingConfig(base_url="http://b2bi.example:5074", username="mlconnector", password="pw-123456")
    assert "allow_insecure_http" in str(caught.value) and "pw-123456" not in str(caught.value)
    cfg = SterlingConfig(base_url="http://127.0.0.1:5074", username="u", password="pw-123456", allow_insecure_http=True)
    assert cfg.api_url == "http://127.0.0.1:5074/B2BAPIs/svc"


def test_insecure_http_is_logged_when_the_client_is_built(caplog):
    cfg = SterlingConfig(base_url="http://127.0.0.1:5074", username="u", password="pw-123456", allow_insecure_http=True)
    with caplog.at_level(logging.WARNING, logger="ml_connector.sterling"):
        SterlingClient(cfg).close()
    assert "plain http" in caplog.text and "pw-123456" not in caplog.text


def test_base_url_is_normalised_and_validated():
    cfg = SterlingConfig(base_url="https://b2bi.example:5075/B2BAPIs/svc/", username="u", password="pw-123456")
    assert cfg.base_url == "https://b2bi.example:5075" and cfg.api_url.endswith(":5075/B2BAPIs/svc")
    with pytest.raises(ValidationError):
        SterlingConfig(base_url="ftp://b2bi.example", username="u", password="pw-123456")


def test_the_password_stays_out_of_reprs_dumps_and_logs():
    cfg = SterlingConfig(base_url="https://b2bi.example:5075", username="mlconnector", password="S3cret-Sterling")
    client = SterlingClient(cfg)
    for text in (repr(cfg), str(cfg.model_dump()), repr(client), cfg.model_dump_json()):
        assert "S3cret-Sterling" not in text
    header = "Basic " + basic_token("mlconnector", "S3cret-Sterling")
    assert "S3cret" not in redact(f"Authorization: {header}")
    assert basic_token("mlconnector", "S3cret-Sterling") not in redact(header)
    client.close()


def test_the_builtin_admin_account_is_refused_before_any_request():
    emu = SterlingEmulator()
    client = make_client(emu, emu.admin_credentials())
    with pytest.raises(AuthError) as caught:
        client.ping()
    assert caught.value.code == "admin-account" and "API User" in caught.value.message
    assert emu.admin_password not in str(caught.value)
    assert emu.requests == 0
    with pytest.raises(AuthError):  # and it stays refused
        client.list_trading_partners()


def test_an_account_in_the_admin_group_is_refused_after_reading_its_record():
    emu = SterlingEmulator()
    emu.add_user("ops_admin", "Ops-Passw0rd", groups=("Admin",))
    client = make_client(emu, {**emu.credentials(), "username": "ops_admin", "password": "Ops-Passw0rd"})
    with pytest.raises(AuthError, match="Admin"):
        client.ping()
    assert emu.requests == 1  # only the user record was read; nothing else ran


def test_the_api_user_passes_and_the_check_runs_once():
    emu = SterlingEmulator()
    seen: list[str] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        request.read()
        return emu.handle(request)

    client = make_client(emu, transport=httpx.MockTransport(spy))
    client.ping()
    client.list_trading_partners()
    assert seen.count("/B2BAPIs/svc/useraccounts/mlconnector") == 1 and len(seen) == 3


def test_an_account_that_may_not_read_its_own_record_is_no_admin():
    emu = SterlingEmulator()

    def deny_users(request: httpx.Request) -> httpx.Response:
        if "/useraccounts/" in request.url.path:
            return httpx.Response(403, json={"errorCode": 403, "errorDescription": "Permission denied"})
        request.read()
        return emu.handle(request)

    make_client(emu, transport=httpx.MockTransport(deny_users)).ping()


def test_a_wrong_password_is_an_auth_error_without_the_password():
    emu = SterlingEmulator()
    client = make_client(emu, {**emu.credentials(), "password": "Wrong-Passw0rd"})
    with pytest.raises(AuthError) as caught:
        client.ping()
    assert caught.value.status == 401 and "Wrong-Passw0rd" not in str(caught.value) + caught.value.body_excerpt
