"""QboOAuth and the token stores: rotation, one refresher per realm, invalid_grant, persistence."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from ml_connector.connectors._http import RetryPolicy, excerpt, redact
from ml_connector.connectors.errors import AuthError, TransientError
from ml_connector.connectors.qbo import FileTokenStore, MemoryTokenStore, QboClient, QboConfig, QboOAuth, TokenSet
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.serve import serve_in_thread

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qbo"
SECRET = "qbo-client-secret-for-tests"


def config(emu: QboEmulator, **overrides) -> QboConfig:
    c = emu.credentials()
    fields = dict(realm_id=c["realm_id"], client_id=c["client_id"], client_secret=c["client_secret"],
                  base_url=c["base_url"], token_url=c["token_url"])
    return QboConfig(**{**fields, **overrides})


def client_for(emu: QboEmulator, store, *, clock=time.time, http: httpx.Client | None = None) -> QboClient:
    cfg = config(emu)
    http = http or httpx.Client(transport=emu.transport(), auth=QboOAuth(cfg, store, clock=clock))
    return QboClient(cfg, store, http=http, policy=RetryPolicy(sleep=lambda s: None))


def expired_store(emu: QboEmulator) -> MemoryTokenStore:
    """A store whose access token expired an hour ago; the refresh token is the live one."""
    return MemoryTokenStore(TokenSet(refresh_token=SecretStr(emu.current_refresh_token()),
                                     access_token=SecretStr("long-dead-access-token"),
                                     access_expires_at=time.time() - 3600, refreshed_at=time.time() - 7200))


def test_config_and_tokens_never_show_secrets_and_secrets_are_redacted():
    cfg = QboConfig(realm_id="123", client_id="cid", client_secret=SECRET)
    tokens = TokenSet(refresh_token=SecretStr("RT-very-secret-value"), access_token=SecretStr("AT-secret"))
    assert SECRET not in repr(cfg) and SECRET not in str(cfg)
    assert "RT-very-secret-value" not in repr(tokens) and "AT-secret" not in repr(tokens)
    assert SECRET not in repr(QboOAuth(cfg, MemoryTokenStore(tokens)))
    assert redact(f"oops {SECRET} and RT-very-secret-value") == "oops *** and ***"
    assert cfg.minorversion == 75 and cfg.base_url == "https://quickbooks.api.intuit.com"
    assert cfg.token_url == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_first_call_refreshes_rotates_and_persists_before_use():
    emu = QboEmulator()
    original = emu.current_refresh_token()
    store = MemoryTokenStore(original)
    client = client_for(emu, store)
    client.ping()
    client.ping()
    saved = store.load()
    assert emu.refreshes == 1 and store.saves == 1
    assert saved.refresh_token.get_secret_value() == emu.current_refresh_token() != original
    assert saved.access_token is not None and saved.access_expires_at > time.time() + 3000


def test_expired_access_token_mid_run_is_refreshed_on_401_and_resent():
    emu = QboEmulator()
    store = MemoryTokenStore(emu.current_refresh_token())
    client = client_for(emu, store)
    client.ping()
    emu.expire_access_tokens()  # the server says 401 although our clock thinks the token is fine
    client.ping()
    assert emu.refreshes == 2 and store.saves == 2
    assert store.load().refresh_token.get_secret_value() == emu.current_refresh_token()


def test_token_close_to_expiry_is_refreshed_before_it_is_used():
    emu = QboEmulator()
    now = [time.time()]
    store = MemoryTokenStore(emu.current_refresh_token())
    client = client_for(emu, store, clock=lambda: now[0])
    client.ping()
    now[0] += 3600 - 200  # inside the 5-minute margin
    client.ping()
    assert emu.refreshes == 2


@pytest.mark.parametrize("shared_auth", [True, False], ids=["one-auth", "auth-per-worker"])
def test_eight_threads_with_an_expired_token_refresh_exactly_once(shared_auth):
    emu = QboEmulator()
    store = expired_store(emu)
    cfg = config(emu)
    shared = QboOAuth(cfg, store)
    start, errors = threading.Barrier(8), []

    def worker() -> None:
        auth = shared if shared_auth else QboOAuth(cfg, store)
        client = client_for(emu, store, http=httpx.Client(transport=emu.transport(), auth=auth))
        start.wait()
        try:
            for _ in range(5):
                client.ping()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert emu.refreshes == 1 and store.saves == 1  # nobody spent an already-rotated token
    assert store.load().refresh_token.get_secret_value() == emu.current_refresh_token()


def test_reusing_a_rotated_refresh_token_is_invalid_grant_and_says_reconnect():
    emu = QboEmulator()
    stale = emu.current_refresh_token()
    client_for(emu, MemoryTokenStore(stale)).ping()  # rotates: `stale` is now dead
    store = MemoryTokenStore(stale)
    with pytest.raises(AuthError) as info:
        client_for(emu, store).ping()
    err = info.value
    assert err.code == "invalid_grant" and "reconnect" in str(err) and err.status == 400
    assert store.saves == 0 and emu.refreshes == 1  # not retried, nothing saved
    assert stale not in str(err) and stale not in err.body_excerpt
    assert pickle.loads(pickle.dumps(err)).code == "invalid_grant"


def test_revoked_company_gets_invalid_grant():
    emu = QboEmulator()
    store = MemoryTokenStore(emu.current_refresh_token())
    emu.revoke()
    with pytest.raises(AuthError, match="must reconnect"):
        client_for(emu, store).ping()


def test_wrong_client_secret_is_an_auth_error_naming_the_credentials():
    emu = QboEmulator()
    cfg = config(emu, client_secret="not-the-secret")
    store = MemoryTokenStore(emu.current_refresh_token())
    http = httpx.Client(transport=emu.transport(), auth=QboOAuth(cfg, store))
    with pytest.raises(AuthError, match="client_id and client_secret") as info:
        QboClient(cfg, store, http=http, policy=RetryPolicy(sleep=lambda s: None)).ping()
    assert info.value.code == "invalid_client" and "not-the-secret" not in str(info.value)


def test_an_error_body_is_never_taken_for_tokens_even_in_a_200():
    body = (FIXTURES / "token_invalid_grant.json").read_bytes()
    cfg = QboConfig(realm_id="r-200", client_id="cid", client_secret=SECRET, base_url="https://qbo.test",
                    token_url="https://qbo.test/token")
    store = MemoryTokenStore("RT-original-token")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = QboClient(cfg, store, http=httpx.Client(transport=transport), policy=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(AuthError, match="invalid_grant"):
        client.ping()
    assert store.saves == 0 and store.load().refresh_token.get_secret_value() == "RT-original-token"


def test_token_endpoint_outage_is_retried_then_succeeds():
    class FirstTokenCallFails(FaultPlan):
        def __init__(self) -> None:
            super().__init__()
            self.left = 2

        def before(self):
            if self.left:
                self.left -= 1
                return "5xx"
            return None

    emu = QboEmulator(FirstTokenCallFails())
    store = MemoryTokenStore(emu.current_refresh_token())
    client_for(emu, store).ping()
    assert emu.refreshes == 1 and store.saves == 1


def test_token_response_fixture_is_read_and_the_rotated_token_saved():
    body = (FIXTURES / "token_response.json").read_bytes()
    cfg = QboConfig(realm_id="r-fixture", client_id="cid", client_secret=SECRET, base_url="https://qbo.test",
                    token_url="https://qbo.test/token")
    store = MemoryTokenStore("RT-before-rotation")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert request.headers["authorization"].startswith("Basic ")
            assert b"grant_type=refresh_token" in request.content and b"RT-before-rotation" in request.content
            return httpx.Response(200, content=body)
        return httpx.Response(200, json={"CompanyInfo": {"Id": "1"}})

    QboClient(cfg, store, http=httpx.Client(transport=httpx.MockTransport(handler))).ping()
    assert store.load().refresh_token.get_secret_value() == json.loads(body)["refresh_token"]
    assert excerpt(body).count("***") >= 2  # both tokens masked in any excerpt of that body


def test_a_failed_save_keeps_the_rotated_token_in_memory_and_logs_loudly(caplog):
    class BrokenStore(MemoryTokenStore):
        fail = True

        def save(self, tokens):
            if self.fail:
                raise OSError("disk full")
            super().save(tokens)

    emu = QboEmulator()
    store = BrokenStore(emu.current_refresh_token())
    client = client_for(emu, store)
    with caplog.at_level(logging.ERROR), pytest.raises(OSError):
        client.ping()
    assert "could NOT be saved" in caplog.text
    store.fail = False
    client.ping()  # the in-memory token set (with the live refresh token) is still used
    emu.expire_access_tokens()
    client.ping()  # and refreshing again uses the rotated refresh token, not the stored dead one
    assert store.load().refresh_token.get_secret_value() == emu.current_refresh_token()


# -- FileTokenStore --------------------------------------------------------------------


def test_file_store_saves_atomically_with_private_permissions(tmp_path):
    path = tmp_path / "tokens" / "realm.json"
    store = FileTokenStore.create(path, "RT-file-token-1")
    assert store.load().refresh_token.get_secret_value() == "RT-file-token-1"
    store.save(TokenSet(refresh_token=SecretStr("RT-file-token-2"), access_expires_at=5.0))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["realm.json"]  # no temp file left
    assert store.load().refresh_token.get_secret_value() == "RT-file-token-2"
    assert "RT-file-token-2" not in repr(store)


def test_file_store_missing_or_corrupt_is_an_auth_error_without_the_content(tmp_path):
    with pytest.raises(AuthError, match="connect the company"):
        FileTokenStore(tmp_path / "none.json").load()
    bad = tmp_path / "bad.json"
    bad.write_text('{"refresh_token": "RT-half-writ')
    with pytest.raises(AuthError) as info:
        FileTokenStore(bad).load()
    assert "RT-half" not in str(info.value)


_WORKER = textwrap.dedent("""
    import sys, httpx
    from ml_connector.connectors._http import RetryPolicy
    from ml_connector.connectors.qbo import FileTokenStore, QboClient, QboConfig
    base, realm, client_id, secret, path = sys.argv[1:6]
    cfg = QboConfig(realm_id=realm, client_id=client_id, client_secret=secret, base_url=base,
                    token_url=base + "/oauth2/v1/tokens/bearer")
    QboClient(cfg, FileTokenStore(path), policy=RetryPolicy(sleep=lambda s: None)).ping()
""")


def test_two_processes_sharing_a_file_store_refresh_once(tmp_path):
    emu = QboEmulator()
    served = serve_in_thread(emu)
    try:
        path = tmp_path / "tokens.json"
        FileTokenStore(path).save(TokenSet(refresh_token=SecretStr(emu.current_refresh_token()),
                                           access_token=SecretStr("expired"), access_expires_at=1.0))
        c = emu.credentials()
        args = [served.base_url, c["realm_id"], c["client_id"], c["client_secret"], str(path)]
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER, *args], stderr=subprocess.PIPE) for _ in range(3)]
        outcomes = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
        assert all(code == 0 for code, _ in outcomes), outcomes
        assert emu.refreshes == 1
        assert FileTokenStore(path).load().refresh_token.get_secret_value() == emu.current_refresh_token()
    finally:
        served.stop()


def test_a_store_that_already_holds_a_fresh_token_is_not_refreshed(tmp_path):
    emu = QboEmulator()
    store = MemoryTokenStore(emu.current_refresh_token())
    client_for(emu, store).ping()
    other = client_for(emu, store)  # a second worker reads the same store
    other.ping()
    assert emu.refreshes == 1


def test_refresh_failure_classification_is_transient_for_garbage():
    cfg = QboConfig(realm_id="r-garbage", client_id="cid", client_secret=SECRET, base_url="https://qbo.test",
                    token_url="https://qbo.test/token")
    store = MemoryTokenStore("RT-garbage-case")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>oops</html>"))
    client = QboClient(cfg, store, http=httpx.Client(transport=transport),
                       policy=RetryPolicy(attempts=2, sleep=lambda s: None))
    with pytest.raises(TransientError, match="usable token"):
        client.ping()
    assert store.saves == 0
