"""QBO tokens kept in the tenant's Prefect credentials block (``<tenant>-qbo``).

:class:`BlockTokenStore` implements the connector's ``TokenStore`` protocol over a
:class:`~ml_connector.credentials.QboCredentials` block:

- ``load`` re-reads the block every time (the connector calls it under its locks, right
  before deciding to refresh), so a worker that waited for another's refresh uses the token
  that refresh produced instead of spending an already-rotated refresh token;
- ``save`` writes the token fields back in one API call, a partial update of the block
  document (the server merges it; readers see the old set or the new one, never a mix).
  It is the first thing after Intuit's answer and reads nothing first: the old refresh token
  is already dead, so nothing that could fail may stand between the answer and the write;
  a failing write is retried a few times before the connector reports it;
- ``locked`` is the refresher lock of the company, across processes. On a PostgreSQL ledger
  (``ML_CONNECTOR_LEDGER_URL=postgresql+psycopg://...``) it is
  ``pg_advisory_lock(hashtext('qbo-refresh:' || realm))`` on a connection of the ledger
  engine of its own: every worker on every host sees it, and the server releases it when the
  holder's connection dies with its process (a SIGKILLed worker leaves no stuck lock). On a
  SQLite ledger (one machine by definition) it is an exclusive ``fcntl`` file lock on
  ``$ML_CONNECTOR_HOME/locks/qbo-refresh-<realm>.lock`` (system temp dir without that
  variable). Inside one process the connector's per-realm ``threading.Lock`` already
  serializes threads.

The lock lives here, not in the connector: connectors know nothing of the ledger.

The tokens are the tenant's (its block; every ``load`` reads it, nothing is cached by realm), the
locks are the company's: two tenants connected to the same company, or naming the same realm id
in tests, share the refresh lock, which only makes one of them wait a refresh's length, while
each refreshes and keeps its own token set.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from .. import settings
from ..connectors.errors import TransientError
from ..connectors.qbo.tokens import TokenSet, file_lock
from ..credentials import BLOCKS, block_name, load_credentials
from ..settings import ledger_url
from .ledgers import shared_ledger

log = logging.getLogger("ml_connector.runtime.qbo_tokens")

_SAVE_GUARD = threading.Lock()
SAVE_ATTEMPTS = 4  # the Prefect client retries 429/5xx itself; these cover a connection lost mid-call
SAVE_BACKOFF = 0.5  # seconds, doubled per attempt
# A refresh is one HTTP call; a holder this slow is hung, and waiting longer would stall every
# QBO run of the company. The waiter fails transiently (the task retries) instead.
LOCK_TIMEOUT_SECONDS = 120


def lock_dir() -> Path:
    base = settings.home() or tempfile.gettempdir()
    return Path(base) / "locks"


class BlockTokenStore:
    """One company's tokens in the tenant's ``<tenant>-qbo`` block.

    ``ledger_engine``: the engine to take the PostgreSQL refresh lock on; by default the
    process's ledger engine (runtime/ledgers.py) when ``ML_CONNECTOR_LEDGER_URL`` is PostgreSQL
    (looked up at the first refresh, so building a client costs no database connection).
    """

    def __init__(self, tenant: str, realm_id: str, *, ledger_engine=None) -> None:
        self.tenant, self.realm_id = tenant, realm_id
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", realm_id)
        self.lock_path = lock_dir() / f"qbo-refresh-{safe}.lock"
        self.lock_key = f"qbo-refresh:{realm_id}"
        self._ledger_engine = ledger_engine
        self._document_id: UUID | None = None  # the block document's id, from the last load
        self.saves = 0

    def __repr__(self) -> str:
        return f"BlockTokenStore(block={block_name(self.tenant, 'qbo')!r})"

    def load(self) -> TokenSet:
        block = load_credentials(self.tenant, "qbo")
        self._document_id = block._block_document_id
        return TokenSet(refresh_token=block.refresh_token, access_token=block.access_token,
                        access_expires_at=block.access_expires_at, refreshed_at=block.refreshed_at)

    def save(self, tokens: TokenSet) -> None:
        """Write the token fields into the block: one partial update, retried on failure."""
        data = {
            "refresh_token": tokens.refresh_token.get_secret_value(),
            "access_token": tokens.access_token.get_secret_value() if tokens.access_token else None,
            "access_expires_at": tokens.access_expires_at,
            "refreshed_at": tokens.refreshed_at,
        }
        with _SAVE_GUARD:
            for attempt in range(1, SAVE_ATTEMPTS + 1):
                try:
                    self._update_block(data)
                    break
                except Exception as exc:
                    if attempt == SAVE_ATTEMPTS:
                        raise
                    # Class only: a Prefect client error may quote the request, secrets included.
                    log.warning("QBO realm %s: saving the rotated tokens failed (%s), attempt %d of %d",
                                self.realm_id, type(exc).__name__, attempt, SAVE_ATTEMPTS)
                    self._document_id = None  # maybe the block was recreated: look its id up again
                    time.sleep(SAVE_BACKOFF * 2 ** (attempt - 1))
            self.saves += 1

    def _update_block(self, data: dict) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import BlockDocumentUpdate

        with get_client(sync_client=True) as client:
            if self._document_id is None:
                slug = BLOCKS["qbo"].get_block_type_slug()
                self._document_id = client.read_block_document_by_name(
                    block_name(self.tenant, "qbo"), block_type_slug=slug, include_secrets=False).id
            client.update_block_document(self._document_id, BlockDocumentUpdate(data=data, merge_existing_data=True))

    def locked(self):
        """Exclusive across every worker of the company while one of them refreshes."""
        engine = self._postgres_engine()
        if engine is not None:
            return advisory_lock(engine, self.lock_key, what=f"the QBO refresh lock of company {self.realm_id}",
                                 system="qbo")
        return file_lock(self.lock_path)

    def _postgres_engine(self):
        engine = self._ledger_engine
        if engine is None:
            if not ledger_url().startswith("postgresql"):
                return None
            engine = self._ledger_engine = shared_ledger(ledger_url(), self.tenant).engine
        return engine if engine.dialect.name == "postgresql" else None


@contextmanager
def advisory_lock(engine, key: str, *, what: str, system: str = "",
                  timeout: int = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold ``pg_advisory_lock(hashtext(key))`` on a pooled connection of ``engine`` of its own.

    The connection runs in autocommit (no transaction left open while the caller works); the
    lock is session-level, released by ``pg_advisory_unlock`` and by the server if the session
    dies. A wait longer than ``timeout`` seconds, or a database that cannot be reached, is a
    :class:`TransientError` naming ``what``.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except DBAPIError as exc:  # the text may hold the server's address and user: class only
        raise TransientError(f"cannot take {what}: the ledger database is unreachable ({type(exc.orig).__name__})",
                             system=system, operation="lock") from None
    held = False
    try:
        try:
            conn.execute(text("SELECT set_config('lock_timeout', :t, false)"), {"t": f"{int(timeout)}s"})
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": key})
            held = True
        except DBAPIError as exc:
            timed_out = getattr(exc.orig, "sqlstate", None) == "55P03"
            reason = f"another worker held it for over {timeout} s" if timed_out else type(exc.orig).__name__
            raise TransientError(f"cannot take {what}: {reason}", system=system, operation="lock") from None
        yield
    finally:
        _release(conn, key, held)


def _release(conn, key: str, held: bool) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        if held:
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": key})
        conn.execute(text("RESET lock_timeout"))
    except DBAPIError:
        # A session we could not unlock may still hold the lock: never hand it back to the pool.
        conn.invalidate()
    finally:
        conn.close()
