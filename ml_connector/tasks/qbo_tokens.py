"""QBO tokens kept in the tenant's Prefect credentials block (``<tenant>-qbo``).

:class:`BlockTokenStore` implements the connector's ``TokenStore`` protocol over a
:class:`~ml_connector.credentials.QboCredentials` block:

- ``load`` re-reads the block every time (the connector calls it under its locks, right
  before deciding to refresh), so a worker that waited for another's refresh uses the token
  that refresh produced instead of spending an already-rotated refresh token;
- ``save`` writes the whole token set back in one block save (one API call that replaces the
  block document on the server: readers see the old set or the new one, never a mix);
- ``locked`` is the cross-process refresher lock: an exclusive ``fcntl`` file lock on
  ``$ML_CONNECTOR_HOME/locks/qbo-refresh-<realm>.lock`` (system temp dir without that
  variable). Inside one process the connector's per-realm ``threading.Lock`` already
  serializes threads. A file lock covers every worker on one host, which is the documented
  one-machine deployment; workers on several hosts need a lock they all see: the place for it
  is a Prefect global concurrency limit ``qbo-refresh:<realm>`` of 1 (not built here).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from pydantic import SecretStr

from ..connectors.qbo.tokens import TokenSet, file_lock
from ..credentials import block_name, load_credentials

_SAVE_GUARD = threading.Lock()


def lock_dir() -> Path:
    base = os.environ.get("ML_CONNECTOR_HOME") or tempfile.gettempdir()
    return Path(base) / "locks"


class BlockTokenStore:
    """One company's tokens in the tenant's ``<tenant>-qbo`` block."""

    def __init__(self, tenant: str, realm_id: str) -> None:
        self.tenant, self.realm_id = tenant, realm_id
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", realm_id)
        self.lock_path = lock_dir() / f"qbo-refresh-{safe}.lock"
        self.saves = 0

    def __repr__(self) -> str:
        return f"BlockTokenStore(block={block_name(self.tenant, 'qbo')!r})"

    def load(self) -> TokenSet:
        block = load_credentials(self.tenant, "qbo")
        return TokenSet(refresh_token=block.refresh_token, access_token=block.access_token,
                        access_expires_at=block.access_expires_at, refreshed_at=block.refreshed_at)

    def save(self, tokens: TokenSet) -> None:
        with _SAVE_GUARD:
            block = load_credentials(self.tenant, "qbo")
            block.refresh_token = SecretStr(tokens.refresh_token.get_secret_value())
            block.access_token = SecretStr(tokens.access_token.get_secret_value()) if tokens.access_token else None
            block.access_expires_at = tokens.access_expires_at
            block.refreshed_at = tokens.refreshed_at
            block.save(block_name(self.tenant, "qbo"), overwrite=True)
            self.saves += 1

    def locked(self):
        """Exclusive across the processes of this host while one of them refreshes."""
        return file_lock(self.lock_path)
