"""Intacct credentials and the session cache."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from ml_connector.connectors._http import redact
from ml_connector.connectors.errors import AuthError
from ml_connector.connectors.intacct import codec
from ml_connector.connectors.intacct.auth import IntacctConfig, Session, SessionCache, session_from_response

FIXTURES = Path(__file__).parents[2] / "fixtures" / "intacct"


def config(**changes) -> IntacctConfig:
    values = dict(sender_id="S1", sender_password="sender-secret-1", company_id="ACME", user_id="ws",
                  user_password="user-secret-1")
    values.update(changes)
    return IntacctConfig(**values)


def parsed(timestamp: datetime | None, timeout: datetime | None) -> codec.ParsedResponse:
    return codec.ParsedResponse("req", [], session_timestamp=timestamp, session_timeout=timeout)


def test_config_hides_and_registers_its_secrets():
    cfg = config(sender_password="sender-secret-42", user_password="user-secret-42")
    assert "secret-42" not in repr(cfg) and "secret-42" not in str(cfg)
    assert redact("pw sender-secret-42 and user-secret-42") == "pw *** and ***"
    assert cfg.endpoint_url == "https://api.intacct.com/ia/xml/xmlgw.phtml"
    assert config(location_id="E1").session_key != cfg.session_key
    assert config(endpoint_url="https://sandbox.example/ia/xml/xmlgw.phtml").session_key != cfg.session_key
    with pytest.raises(ValidationError, match="frozen"):
        cfg.user_id = "other"


def test_session_repr_hides_the_session_id():
    assert "tok-123" not in repr(Session("tok-123", "https://x/ia", None, 0.0))


def test_expiry_is_measured_on_the_servers_clock_not_ours():
    cache = SessionCache(clock=lambda: 100.0)
    skewed = datetime(2001, 1, 1, tzinfo=UTC)  # our wall clock is irrelevant
    assert cache.expiry(parsed(skewed, skewed + timedelta(hours=2))) == 100.0 + 7200
    assert cache.expiry(parsed(None, None)) == 100.0 + cache.fallback_ttl


def test_cache_opens_once_renews_near_expiry_and_invalidates_only_the_refused_session():
    now = [0.0]
    cache = SessionCache(margin=10, clock=lambda: now[0])
    opened = []

    def opener():
        opened.append(Session(f"s{len(opened)}", "https://e/ia", None, now[0] + 100))
        return opened[-1]

    assert cache.get(("k",), opener).session_id == "s0"
    assert cache.get(("k",), opener).session_id == "s0"
    now[0] = 91  # inside the margin
    assert cache.get(("k",), opener).session_id == "s1"
    cache.invalidate(("k",), "s0")  # stale report from another thread: keeps s1
    assert cache.get(("k",), opener).session_id == "s1"
    cache.invalidate(("k",), "s1")
    assert cache.get(("k",), opener).session_id == "s2"


def test_cache_opens_one_session_for_many_threads():
    cache = SessionCache()
    calls = []
    gate = threading.Barrier(8)

    def opener():
        calls.append(1)
        time.sleep(0.05)  # a slow login: the other threads must wait for it, not start their own
        return Session("only", "https://e/ia", None, time.monotonic() + 3600)

    def worker():
        gate.wait()
        return cache.get(("k",), opener).session_id

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_session_from_response_takes_the_returned_endpoint():
    response = codec.parse_response((FIXTURES / "get_api_session.xml").read_bytes())
    session = session_from_response(response, config(), SessionCache())
    assert session.endpoint == "https://na12.intacct.com/ia/xml/xmlgw.phtml" and session.location_id is None


def test_cached_session_ids_are_registered_for_redaction():
    SessionCache().get(("k",), lambda: Session("sess-id-7f3a9c", "https://e/ia", None, time.monotonic() + 60))
    assert redact("token sess-id-7f3a9c here") == "token *** here"


@pytest.mark.parametrize("endpoint", [
    "https://evil.example/ia/xml/xmlgw.phtml", "http://na12.intacct.com/ia/xml/xmlgw.phtml",
    "https://intacct.com.evil.example/ia", "https://xintacct.com/ia",
])
def test_session_endpoint_outside_the_configured_domain_is_refused(endpoint):
    body = (FIXTURES / "get_api_session.xml").read_bytes().replace(
        b"https://na12.intacct.com/ia/xml/xmlgw.phtml", endpoint.encode())
    with pytest.raises(AuthError):
        session_from_response(codec.parse_response(body), config(), SessionCache())


def test_ip_endpoints_must_match_exactly():
    body = (FIXTURES / "get_api_session.xml").read_bytes().replace(
        b"https://na12.intacct.com/ia/xml/xmlgw.phtml", b"http://10.0.0.1:8080/ia/xml/xmlgw.phtml")
    with pytest.raises(AuthError):
        session_from_response(codec.parse_response(body), config(endpoint_url="http://127.0.0.1:8080/ia"), SessionCache())
