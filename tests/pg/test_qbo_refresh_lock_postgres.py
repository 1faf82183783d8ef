"""One QBO token refresher per company across hosts: on a PostgreSQL ledger the refresh lock is
a PostgreSQL advisory lock, so workers that share no file system (each its own
``ML_CONNECTOR_HOME``, as on two hosts) still refresh one at a time, and the rotated refresh
token is never lost. The lock goes with its holder's process, and a hung holder makes the
others fail transiently instead of waiting for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import create_engine, text

from ml_connector.connectors.errors import TransientError
from ml_connector.credentials import load_credentials, save_block
from ml_connector.mappings.tenant import tenant_path
from ml_connector.runtime.qbo_tokens import BlockTokenStore, advisory_lock
from ml_connector.sandbox.qbo.emulator import TOKEN_PATH, QboEmulator
from ml_connector.sandbox.serve import serve_in_thread
from tests.waiting import wait_for as shared_wait_for

TENANT = "pgqbo"

# A worker's first QBO call: the product's client for the tenant (block, token store, lock).
WORKER = f"""
from ml_connector.runtime.tenant import tenant
client = tenant({TENANT!r}).qbo()
client.ping()
print(client.auth.refreshes, flush=True)
"""

# Takes the refresh lock, says so, and waits to be killed.
HOLDER = f"""
import time
from ml_connector.runtime.tenant import tenant
from ml_connector.runtime.qbo_tokens import BlockTokenStore
store = BlockTokenStore({TENANT!r}, {{realm!r}})
with store.locked():
    print("held", flush=True)
    time.sleep(600)
"""


class HeldTokenEndpoint(QboEmulator):
    """QBO whose token endpoint parks the first refresh until the test lets it answer, so the
    other worker is sure to ask for the lock while the refresh is in flight."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.arrived, self.release = threading.Event(), threading.Event()

    def dispatch(self, request):
        if request.url.path == TOKEN_PATH and not self.arrived.is_set():
            self.arrived.set()
            self.release.wait(120)
        return super().dispatch(request)


def advisory_locks(engine) -> dict[bool, int]:
    """{granted: count} of the advisory locks held or awaited on the server right now."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT granted, count(*) FROM pg_locks WHERE locktype = 'advisory' GROUP BY granted"))
        return {bool(granted): n for granted, n in rows}


def wait_for(condition, what: str, timeout: float = 120.0):
    return shared_wait_for(condition, what, timeout, interval=0.1)


@pytest.fixture()
def pg_env(postgres_url, prefect_server, tmp_path):
    """The tenant's files and the environment of a worker on the PostgreSQL ledger."""
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{TENANT}.yaml").write_text(
        tenant_path("demo-qbo").read_text().replace("tenant: demo-qbo", f"tenant: {TENANT}"))
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "ML_CONNECTOR_LEDGER_URL": postgres_url,
           "ML_CONNECTOR_TENANTS": str(tenants), "PREFECT_LOGGING_LEVEL": "ERROR"}
    engine = create_engine(postgres_url)
    yield env, engine
    engine.dispose()


def host_env(env: dict, tmp_path, name: str) -> dict:
    """A worker on a host of its own: no lock file it could share with the other one."""
    home = tmp_path / name
    home.mkdir()
    return {**env, "ML_CONNECTOR_HOME": str(home)}


def test_two_hosts_refreshing_at_once_make_one_refresh_and_keep_the_rotated_token(pg_env, tmp_path):
    env, engine = pg_env
    qbo = HeldTokenEndpoint()  # rotates the refresh token on every refresh
    served = serve_in_thread(qbo)
    workers = []
    try:
        save_block(TENANT, "qbo", qbo.credentials())  # connected: a refresh token, no access token yet
        workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=host_env(env, tmp_path, f"host{n}"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
        assert qbo.arrived.wait(120), "no worker asked QBO for a token"
        # One worker is refreshing; the other must be waiting on the company's advisory lock.
        wait_for(lambda: advisory_locks(engine) == {True: 1, False: 1}, "the second worker to wait on the lock")
        qbo.release.set()
        outputs = [w.communicate(timeout=120) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    finally:
        qbo.release.set()
        for w in workers:
            if w.poll() is None:
                w.kill()
        served.stop()

    assert qbo.refreshes == 1
    assert sorted(int(out.split()[-1]) for out, _ in outputs) == [0, 1]  # one refreshed, one reused its token
    block = load_credentials(TENANT, "qbo")
    assert block.refresh_token.get_secret_value() == qbo.current_refresh_token()  # the rotated one, saved
    assert block.access_token is not None and block.refreshed_at is not None
    assert advisory_locks(engine) == {}  # released by both


def test_the_lock_of_a_killed_holder_is_released_by_the_server(pg_env, tmp_path):
    env, engine = pg_env
    qbo = QboEmulator()
    save_block(TENANT, "qbo", qbo.credentials())
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(realm=qbo.realm_id)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        store = BlockTokenStore(TENANT, qbo.realm_id, ledger_engine=engine)
        with pytest.raises(TransientError, match="another worker held it for over 1 s"):
            with advisory_lock(engine, store.lock_key, what="the test lock", timeout=1):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    # The server ends the dead process's session and its lock with it: taken within the timeout.
    store = BlockTokenStore(TENANT, qbo.realm_id, ledger_engine=engine)
    with store.locked():
        assert advisory_locks(engine) == {True: 1}
    assert advisory_locks(engine) == {}


def test_a_sqlite_ledger_keeps_the_file_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    store = BlockTokenStore(TENANT, "123", ledger_engine=engine)
    with store.locked():
        assert store.lock_path.exists() and store.lock_path.parent == tmp_path / "locks"
    engine.dispose()
