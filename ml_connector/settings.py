"""Embedded defaults, each overridable by one environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def ledger_url() -> str:
    """The ledger's SQLAlchemy URL: ``ML_CONNECTOR_LEDGER_URL``, else a SQLite file under
    ``./.ml-connector/`` (the working directory of the worker or the CLI)."""
    url = os.environ.get("ML_CONNECTOR_LEDGER_URL")
    if url:
        return url
    folder = Path(os.environ.get("ML_CONNECTOR_HOME", Path.cwd() / ".ml-connector"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ledger.db'}"


def intent_lease_seconds() -> float:
    """How old an unresolved intent must be before any run may resolve it, when the run that
    wrote it cannot be asked (its own state is the faster signal; see tasks/recovery.py)."""
    return float(os.environ.get("ML_CONNECTOR_INTENT_LEASE", "600"))


def max_document_bytes() -> int:
    """The largest inbound document accepted (``ML_CONNECTOR_MAX_DOCUMENT_BYTES``, default
    5 MB); larger ones are quarantined unparsed, which keeps memory bounded per document."""
    return int(os.environ.get("ML_CONNECTOR_MAX_DOCUMENT_BYTES", str(5_000_000)))


def sps_concurrency() -> int:
    """The most SPS requests one task keeps in flight (``ML_CONNECTOR_SPS_CONCURRENCY``,
    default 32, at least 1); tasks/io_pool.py runs fewer when the round trip is short. SPS
    serves one file per request and publishes no rate limit, so a page of 500 is 500 downloads
    and 500 deletes: over a WAN the overlap is what sets the throughput. Its 429s are honoured
    by the retry layer."""
    return max(1, int(os.environ.get("ML_CONNECTOR_SPS_CONCURRENCY", "32")))
