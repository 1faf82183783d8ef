"""Test-session setup: one Prefect test server for the whole session, fast task retries."""

from __future__ import annotations

import os

# Read at import by ml_connector.tasks.retry; tests must not sleep through production delays.
os.environ.setdefault("ML_CONNECTOR_TASK_RETRY_DELAYS", "0,0,0")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect server (temporary, SQLite) shared by every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
