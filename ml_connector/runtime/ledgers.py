"""One ledger engine per ledger URL in this process, shared by every tenant on that URL.

Each tenant works through a handle scoped to it (``Ledger.for_tenant``) over the shared engine,
so tenants on one database share one connection pool; the QBO refresh lock takes its
PostgreSQL advisory lock on a connection of this same engine.
"""

from __future__ import annotations

import threading

from ..ledger.store import Ledger

_LOCK = threading.Lock()
_LEDGERS: dict[str, Ledger] = {}


def shared_ledger(url: str, tenant: str) -> Ledger:
    """The process's ledger on ``url``, created (scoped to ``tenant``) by its first user."""
    with _LOCK:
        if url not in _LEDGERS:
            _LEDGERS[url] = Ledger(url, tenant=tenant)
        return _LEDGERS[url]


def dispose_all() -> None:
    """Close every engine (tests and the demo switch ledgers)."""
    with _LOCK:
        for ledger in _LEDGERS.values():
            ledger.dispose()
        _LEDGERS.clear()
