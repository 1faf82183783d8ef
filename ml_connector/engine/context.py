"""What one run of one integration for one tenant knows about itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from prefect.runtime import flow_run

from ..ledger.store import Ledger
from ..runtime.tenant import Tenant, tenant

# A guard against a source whose listing never ends (a cursor that stops moving), not a limit
# anyone should reach: 100k pages of 500 documents.
MAX_PAGES = 100_000


def current_run_id() -> str:
    """The flow run's id: the ledger's events and intents carry it ("local" outside Prefect)."""
    return str(flow_run.get_id() or "local")


@dataclass
class Run:
    """One run: its tenant, id, window and the results its posting steps returned.

    ``since``/``until`` make it a backfill: documents outside the window are left alone and
    the live cursor is neither read nor stored."""

    tenant: str
    integration: str
    run_id: str
    since: date | datetime | None = None
    until: date | datetime | None = None
    page_size: int = 500
    posted: list[dict] = field(default_factory=list)

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def stored_cursor(self, name: str = "live") -> str | None:
        """The ledger cursor ``name`` a listing resumes from; None in a backfill, which reads its
        window and leaves the live cursors alone."""
        return None if self.backfill else self.ledger.get_cursor(self.integration, name)

    @property
    def resources(self) -> Tenant:
        return tenant(self.tenant)

    @property
    def ledger(self) -> Ledger:
        return self.resources.ledger
