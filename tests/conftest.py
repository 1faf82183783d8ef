"""Test-session setup: one real Prefect server for the whole session, fast task retries.

The server is ``prefect server start`` (with its UI, which the browser test opens), on a
free loopback port with a temporary home and database, exactly as the README's deploy
section starts one; in-process flows, ``prefect deploy`` and the worker all use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Read at import by ml_connector.tasks.retry; tests must not sleep through production delays.
os.environ.setdefault("ML_CONNECTOR_TASK_RETRY_DELAYS", "0,0,0")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import glob

import httpx
import pytest

PREFECT = str(Path(sys.executable).with_name("prefect"))
_HOME: dict[str, Path] = {}
TESTS = Path(__file__).resolve().parent

# --- Tiers: every test is `fast` (`make test-fast`, `pytest -m fast`) or `slow` ---------------
# Fast: units, codecs, mappings, connectors, the ledger on SQLite, the engine's loop, emulators,
# webhooks and the CLI, with in-process emulators and at most a quick flow on the session's
# Prefect server. Slow: whole integrations end to end, soak, benchmarks, PostgreSQL, the browser.
# A test says which tier it is in by its folder, so a new test lands in the right tier unmarked.
SLOW_DIRS = {"flows", "soak", "benchmarks", "pg", "e2e"}
SLOW_MODULES = {"test_demo_tenants.py"}
# The engine's own tests run its loop on a probe pipeline in seconds; they live in tests/flows/
# for the world fixture they share with the flows.
FAST_MODULES = {"flows/test_engine.py"}


def _tier(item: pytest.Item) -> str:
    rel = Path(str(item.path)).resolve().relative_to(TESTS)
    if rel.as_posix() in FAST_MODULES:
        return "fast"
    if rel.parts[0] in SLOW_DIRS or rel.name in SLOW_MODULES or "postgres_url" in item.fixturenames:
        return "slow"
    return "fast"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not (item.get_closest_marker("fast") or item.get_closest_marker("slow")):
            item.add_marker(_tier(item))
        if "prefect_server" in item.fixturenames:
            item.add_marker("prefect")
        if "postgres_url" in item.fixturenames:
            item.add_marker("postgres")


def _start_server(home: Path) -> tuple[subprocess.Popen, str]:
    from ml_connector.sandbox.serve import free_port

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("prefect server did not become healthy in 180 s")


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect server (temporary home, SQLite) shared by every flow test of the session."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    home = Path(tempfile.mkdtemp(prefix="mlc-prefect-"))
    _HOME["path"] = home
    proc, url = _start_server(home)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_HOME: str(home)}):
            yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture()
def prefect_home(prefect_server) -> Path:
    """The session server's home: its SQLite database lives there (the secrets test reads it)."""
    return _HOME["path"]


# --- PostgreSQL (Debian's package) for the tests about concurrency --------------------------
# ``make test`` installs the package; the server runs as the ``postgres`` user (initdb refuses
# root) in a temporary directory on a free loopback port, with trust authentication.

def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return cmd if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres_url():
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make test` installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql); CI runs these tests")
    from ml_connector.sandbox.serve import free_port

    data = tempfile.mkdtemp(prefix="mlc-pg-")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", f"{data}/log", "-w", "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlc"]),
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlc"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(data, ignore_errors=True)
