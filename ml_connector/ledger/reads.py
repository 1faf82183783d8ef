"""Read-only questions to the ledger: run counts, failures, status, documents, follow-ups.

A mixin of :class:`~ml_connector.ledger.store.Ledger`, kept apart so the write path (ingest,
claim, outcomes, cursors) reads on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .schema import (
    DUPLICATE,
    FAILED,
    POSTED,
    POSTING,
    QUARANTINED,
    READ,
    SKIPPED,
    document_events,
    document_revisions,
    documents,
)


@dataclass(frozen=True)
class LatestRevision:
    """Where a document stands against its latest revision, for reconciliation: ``stale`` when
    the target holds an earlier revision than the latest (a change, cancellation or replacement
    not applied yet, or one waiting for a person)."""

    id: int
    doc_type: str
    partner: str
    natural_key: str
    revision: int
    applied_revision: int | None
    effect: str | None
    status: str
    target_id: str | None

    @property
    def stale(self) -> bool:
        return self.applied_revision is not None and self.applied_revision < self.revision


class LedgerReads:
    """Every question is about the tenant the ledger was opened for."""

    engine = None  # set by Ledger
    tenant = ""  # set by Ledger

    def run_counts(self, integration: str, run_id: str, since: datetime | None = None) -> dict[str, int]:
        """Events of one run by kind: read, duplicate, posted, failed, quarantined, skipped.
        ``since``: only the events from then on (one attempt of a retried run, which keeps its id)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(document_events.c.event, func.count())
                .where(document_events.c.tenant == self.tenant, document_events.c.integration == integration,
                       document_events.c.flow_run_id == run_id, *_from(since))
                .group_by(document_events.c.event)
            )
            counts = Counter({r[0]: r[1] for r in rows})
        return {k: counts.get(k, 0) for k in (READ, POSTED, DUPLICATE, FAILED, QUARANTINED, SKIPPED)}

    def run_failures(self, integration: str, run_id: str, limit: int = 200,
                     since: datetime | None = None) -> list[dict]:
        """The documents this run failed or quarantined, with their reasons (``since``: as in
        ``run_counts``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents.c.id, documents.c.doc_type, documents.c.partner, documents.c.natural_key,
                       documents.c.source_ref, document_events.c.event, document_events.c.reason)
                .join(documents, documents.c.id == document_events.c.document_id)
                .where(
                    document_events.c.tenant == self.tenant,
                    document_events.c.integration == integration,
                    document_events.c.flow_run_id == run_id,
                    document_events.c.event.in_((FAILED, QUARANTINED)),
                    *_from(since),
                )
                .order_by(documents.c.id)
                .limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    def status_counts(self, integration: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents.c.status, func.count())
                .where(documents.c.tenant == self.tenant, documents.c.integration == integration)
                .group_by(documents.c.status)
            )
            return {r[0]: r[1] for r in rows}

    def documents(self, integration: str, *, status: str | Sequence[str] | None = None,
                  ids: Sequence[int] | None = None, run_id: str | None = None, doc_type: str | None = None) -> list:
        """Document rows, filtered; used by replay, reconcile and status."""
        query = select(documents).where(documents.c.tenant == self.tenant, documents.c.integration == integration)
        if status is not None:
            query = query.where(documents.c.status.in_([status] if isinstance(status, str) else list(status)))
        if ids is not None:
            query = query.where(documents.c.id.in_(list(ids)))
        if run_id is not None:
            query = query.where(documents.c.flow_run_id == run_id)
        if doc_type is not None:
            query = query.where(documents.c.doc_type == doc_type)
        with self.engine.connect() as conn:
            return conn.execute(query.order_by(documents.c.id)).all()


    def latest_revisions(self, integration: str, *, doc_type: str | None = None,
                         ids: Sequence[int] | None = None, stale_only: bool = False) -> list[LatestRevision]:
        """Each document's latest revision and the one its target reflects (``stale_only``:
        only the documents whose target is behind)."""
        query = select(documents.c.id, documents.c.doc_type, documents.c.partner, documents.c.natural_key,
                       documents.c.revision, documents.c.applied_revision, documents.c.effect, documents.c.status,
                       documents.c.target_id).where(documents.c.tenant == self.tenant,
                                                    documents.c.integration == integration)
        if doc_type is not None:
            query = query.where(documents.c.doc_type == doc_type)
        if ids is not None:
            query = query.where(documents.c.id.in_(list(ids)))
        if stale_only:
            query = query.where(documents.c.applied_revision < documents.c.revision)
        with self.engine.connect() as conn:
            return [LatestRevision(**r._mapping) for r in conn.execute(query.order_by(documents.c.id))]

    def revisions_of(self, doc_id: int) -> list:
        """The recorded revisions of one of this tenant's documents, oldest first (none for a
        document only ever read without revision information)."""
        with self.engine.connect() as conn:
            return conn.execute(select(document_revisions).where(
                document_revisions.c.tenant == self.tenant, document_revisions.c.document_id == doc_id,
            ).order_by(document_revisions.c.id)).all()

    def doc_types(self, integration: str, ids: Sequence[int]) -> dict[int, str]:
        """The document type of each of ``ids`` (this tenant's only)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents.c.id, documents.c.doc_type).where(
                documents.c.tenant == self.tenant, documents.c.integration == integration,
                documents.c.id.in_(list(ids))))
            return {r.id: r.doc_type for r in rows}

    def intent_runs(self, integration: str) -> list[str]:
        """The flow runs holding documents between intent and outcome."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents.c.flow_run_id)
                .where(documents.c.tenant == self.tenant, documents.c.integration == integration,
                       documents.c.status == POSTING)
                .distinct()
            )
            return [r.flow_run_id for r in rows if r.flow_run_id]

    def posted_without_followup(self, integration: str, doc_type: str, followup_integration: str,
                                followup_type: str, *, limit: int = 1000) -> list:
        """Posted documents that have no follow-up document of the same partner and key yet
        (posted orders without an acknowledgement)."""
        follow = documents.alias("follow")
        exists = (
            select(follow.c.id)
            .where(
                follow.c.tenant == self.tenant,
                follow.c.integration == followup_integration,
                follow.c.doc_type == followup_type,
                follow.c.partner == documents.c.partner,
                follow.c.natural_key == documents.c.natural_key,
            )
            .exists()
        )
        query = (
            select(documents)
            .where(documents.c.tenant == self.tenant, documents.c.integration == integration,
                   documents.c.doc_type == doc_type, documents.c.status == POSTED, ~exists)
            .order_by(documents.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def last_run(self, integration: str):
        """The flow run that wrote this integration's latest event, and when (None: never ran)."""
        at = func.max(document_events.c.at).label("at")
        with self.engine.connect() as conn:
            return conn.execute(
                select(document_events.c.flow_run_id, at)
                .where(document_events.c.tenant == self.tenant, document_events.c.integration == integration)
                .group_by(document_events.c.flow_run_id)
                .order_by(at.desc())
                .limit(1)
            ).first()

    def oldest_failure(self, integration: str):
        """The failed or quarantined document that has waited longest for a person."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(documents.c.id, documents.c.doc_type, documents.c.partner, documents.c.natural_key,
                       documents.c.status, documents.c.last_error, documents.c.updated_at)
                .where(documents.c.tenant == self.tenant, documents.c.integration == integration,
                       documents.c.status.in_((FAILED, QUARANTINED)))
                .order_by(documents.c.updated_at)
                .limit(1)
            ).first()

    def tenant_of(self, doc_id: int) -> str | None:
        """Which tenant a document id belongs to (None: no such document): lets a command
        refuse another tenant's id with a clear reason instead of "not found"."""
        with self.engine.connect() as conn:
            row = conn.execute(select(documents.c.tenant).where(documents.c.id == doc_id)).first()
        return row.tenant if row else None


def _from(since: datetime | None) -> tuple:
    return () if since is None else (document_events.c.at >= since,)
