"""``ml-connector prune --tenant T``: the ledger's retention, one tenant at a time.

Document rows are the dedup memory, so they are kept; what ages out is the bulky part: the
raw payload of documents posted (or skipped) before the cutoff, and the per-run events. Failed
and quarantined documents keep their payload whatever their age, because a replay needs it.
Prefect's own history is pruned by its server (see the README's Retention section).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update

from ..ledger.schema import POSTED, SKIPPED, document_events, documents
from ..ledger.store import Ledger, utcnow


def prune(ledger: Ledger, older_than: timedelta) -> dict:
    """Drop the tenant's old events and the payloads of its old settled documents; returns what
    was removed."""
    cutoff = utcnow() - older_than
    with ledger.engine.begin() as conn:
        events = conn.execute(delete(document_events).where(document_events.c.tenant == ledger.tenant,
                                                            document_events.c.at < cutoff)).rowcount
        payloads = conn.execute(
            update(documents)
            .where(documents.c.tenant == ledger.tenant, documents.c.status.in_((POSTED, SKIPPED)),
                   documents.c.updated_at < cutoff, documents.c.raw_payload.is_not(None))
            .values(raw_payload=None)
        ).rowcount
    return {"tenant": ledger.tenant, "events_deleted": events, "payloads_dropped": payloads, "cutoff": cutoff.isoformat()}
