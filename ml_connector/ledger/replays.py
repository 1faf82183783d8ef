"""Sending documents again: a replay of failed ones, a resend on purpose of posted ones.

A mixin of :class:`~ml_connector.ledger.store.Ledger`; both start a new idempotency generation,
so the target takes the write as a new one and never as a retry of the last.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from .keys import idempotency_key
from .models import utcnow
from .schema import FAILED, POSTED, QUARANTINED, RECEIVED, RESEND, SKIPPED, documents


class LedgerReplays:
    """Every move is of the tenant the ledger was opened for."""

    engine = None  # set by Ledger
    tenant = ""  # set by Ledger

    def requeue(self, integration: str, ids: Sequence[int], run_id: str, *, reason: str = "replay") -> int:
        """Send failed, quarantined or skipped documents back to received, with a new
        idempotency generation (their earlier write definitely did not happen)."""
        now, moved = utcnow(), 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(documents).where(
                    documents.c.tenant == self.tenant,
                    documents.c.integration == integration,
                    documents.c.id.in_(list(ids)),
                    documents.c.status.in_((FAILED, QUARANTINED, SKIPPED)),
                )
            ).all()
            for row in rows:
                key = idempotency_key(self.tenant, integration, row.doc_type, row.partner, row.natural_key,
                                      int(row.attempts) + 1, row.revision)
                result = conn.execute(
                    update(documents)
                    .where(documents.c.id == row.id, documents.c.status == row.status)
                    .values(status=RECEIVED, idempotency_key=key, updated_at=now, flow_run_id=run_id)
                )
                moved += result.rowcount
            self._events(conn, integration, run_id, [(r.id, "requeued", reason) for r in rows], now)
        return moved

    def resend(self, ids: Sequence[int], who: str, why: str, *, run_id: str = "resend") -> int:
        """Send posted documents again on purpose: each goes back to received with a new
        idempotency generation (so the target takes its write as a new one, not a retry of the
        last), audited as a ``resend`` event naming who asked and why.

        All or nothing: refuses, in one line (ValueError), ids that are not this tenant's
        or documents that are not posted (a failed one is replayed, not resent)."""
        if not who or not why or "\n" in who + why:
            raise ValueError("a resend names who asks for it and why, each in one line")
        ids = list(dict.fromkeys(ids))
        now = utcnow()
        with self.engine.begin() as conn:
            rows = conn.execute(select(documents).where(documents.c.tenant == self.tenant,
                                                        documents.c.id.in_(ids))).all()
            unknown = sorted(set(ids) - {r.id for r in rows})
            if unknown:
                raise ValueError(f"no document {unknown[0]} in tenant {self.tenant}: nothing resent")
            for row in rows:
                if row.status != POSTED:
                    raise ValueError(f"document {row.id} is {row.status}, not posted: only a posted document is "
                                     f"resent (replay sends a failed one); nothing resent")
            for row in rows:
                key = idempotency_key(self.tenant, row.integration, row.doc_type, row.partner, row.natural_key,
                                      int(row.attempts) + 1, row.revision)
                moved = conn.execute(
                    update(documents).where(documents.c.id == row.id, documents.c.status == POSTED)
                    .values(status=RECEIVED, idempotency_key=key, resending=True, updated_at=now, flow_run_id=run_id)
                ).rowcount
                if not moved:
                    raise ValueError(f"document {row.id} changed while being resent: nothing resent")
                self._events(conn, row.integration, run_id, [(row.id, RESEND, f"{who}: {why}", row.revision)], now)
        return len(rows)
