"""The ledger: the source of truth for every document an integration touched.

All writes are set-based (one statement per page, not per document) so the ledger keeps up
with batch posting, and every state change is a compare-and-set on ``status`` so two workers
can never claim the same document: on SQLite the database lock serializes them, on
PostgreSQL the row lock taken by the conditional UPDATE does.

A :class:`Ledger` is opened for one tenant and every statement it runs is scoped to that
tenant, so a task that holds it cannot read, skip, claim or report another company's document,
whatever partner ids and document numbers the two share. Tenants of one process share the
engine (:meth:`Ledger.for_tenant`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from . import revisions as rv
from .engine import ledger_engine
from .keys import idempotency_key, payload_hash
from .migrate import prepare
from .models import Claimed, Incoming, IngestResult, Outcome, claimed_from, utcnow
from .reads import LedgerReads
from .replays import LedgerReplays
from .schema import (
    DUPLICATE,
    FAILED,
    POSTED,
    POSTING,
    QUARANTINED,
    READ,
    RECEIVED,
    REVISED,
    SKIPPED,
    SUPERSEDED,
    WAITING,
    cursors,
    document_events,
    documents,
)

__all__ = ["Claimed", "IngestResult", "Incoming", "Ledger", "Outcome", "idempotency_key", "payload_hash", "utcnow"]

_CHUNK = 500  # keys per IN (...) clause; stays under SQLite's variable limit


class Ledger(LedgerReads, LedgerReplays):
    """One tenant's documents, events and cursors, on any SQLAlchemy URL.

    Opening a ledger creates a new database at the current schema; an existing one must be at
    it (``ml-connector ledger upgrade`` moves it there), else :class:`LedgerSchemaError`."""

    def __init__(self, url: str, *, tenant: str, create: bool = True, engine: Engine | None = None) -> None:
        if not tenant:
            raise ValueError("a ledger is opened for one tenant: tenant must not be empty")
        self.url = url
        self.tenant = tenant
        if engine is None:
            engine = ledger_engine(url)
            prepare(engine, create=create)
        self.engine = engine

    def for_tenant(self, tenant: str) -> Ledger:
        """The same database (and connection pool), scoped to another tenant."""
        return Ledger(self.url, tenant=tenant, engine=self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- ingest ----------------------------------------------------------------------------
    def ingest(self, integration: str, items: Sequence[Incoming], run_id: str) -> IngestResult:
        """Store a page of documents. New keys become rows. A known key is a duplicate, except
        a changed payload for a document that never posted, which replaces the old one; items
        that carry an ``effect`` follow the revision rules instead (``ledger/revisions.py``)."""
        for item in items:
            if item.effect is not None:
                rv.check(item.effect, item.reason)
        now = utcnow()
        keys = [(i.doc_type, i.partner, i.natural_key) for i in items]
        with self.engine.begin() as conn:
            existing = self._existing(conn, integration, keys)
            fresh, dup_events, refreshed, later = [], [], [], []
            revised: list[tuple] = []
            seen: dict[tuple, Incoming] = {}
            for item in items:
                key = (item.doc_type, item.partner, item.natural_key)
                if item.effect is not None and (key in existing or key in seen):
                    if key in existing:
                        revised.append(rv.take(conn, existing[key], item.revision(), run_id, now))
                    else:
                        later.append(item)  # a second content in this page: once the first is stored
                    continue
                if key in existing or key in seen:
                    row = existing.get(key)
                    if row and self._refresh(conn, row, item, run_id, now):
                        refreshed.append((row.id, item.status))
                        dup_events.append((row.id, READ, None))
                        continue
                    doc_id = row.id if row else None
                    dup_events += [(doc_id, READ, None), (doc_id, DUPLICATE, f"already {row.status if row else 'read'}")]
                    continue
                seen[key] = item
                fresh.append(self._row(integration, item, run_id, now))
            new_rows, lost = self._insert_new(conn, integration, fresh)
            for row in lost:
                item = seen[(row.doc_type, row.partner, row.natural_key)]
                if item.effect is not None:
                    later.append(item)
                else:
                    dup_events += [(row.id, READ, None), (row.id, DUPLICATE, "read by another run")]
            revised += self._revise_later(conn, integration, new_rows, seen, later, run_id, now)
            events = dup_events + [(r.id, READ, None, r.revision) for r in new_rows]
            events += [(r.id, QUARANTINED, r.last_error, r.revision) for r in new_rows if r.status == QUARANTINED]
            events += [(r.id, SKIPPED, r.last_error, r.revision) for r in new_rows if r.status == SKIPPED]
            events += [e for outcome in revised for e in outcome[2]]
            self._events(conn, integration, run_id, events, now)
        return _result(new_rows, refreshed, dup_events, revised)

    def _revise_later(self, conn, integration: str, new_rows: list, seen: dict[tuple, Incoming],
                      later: list[Incoming], run_id: str, now: datetime) -> list[tuple]:
        """Revision 1 of the new documents that carry revision information, then the contents
        that had to wait for a document of this page (or another run's) to be stored."""
        first = [(r, seen[(r.doc_type, r.partner, r.natural_key)]) for r in new_rows]
        rv.first_revisions(conn, [(r, item.revision()) for r, item in first if item.effect is not None], run_id, now)
        revised = []
        for item in later:
            row = self._existing(conn, integration, [(item.doc_type, item.partner, item.natural_key)])
            revised.append(rv.take(conn, next(iter(row.values())), item.revision(), run_id, now))
        return revised

    def _insert_new(self, conn, integration: str, fresh: list[dict]) -> tuple[list, list]:
        """Insert rows whose keys were free a moment ago. Another worker may have inserted some
        since: those conflict and are skipped (ON CONFLICT DO NOTHING), and come back as
        ``lost`` so they are counted as duplicates instead of failing the page."""
        if not fresh:
            return [], []
        keys = [(r["doc_type"], r["partner"], r["natural_key"]) for r in fresh]
        if conn.dialect.name in ("sqlite", "postgresql"):
            dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
            stmt = dialect_insert(documents).on_conflict_do_nothing(
                index_elements=["tenant", "integration", "doc_type", "partner", "natural_key"]
            ).returning(documents.c.id)
            ours = {r.id for r in conn.execute(stmt, fresh)}
        else:
            conn.execute(insert(documents), fresh)
            ours = None
        found = self._existing(conn, integration, keys)
        rows = [found[k] for k in keys]
        if ours is None:
            return rows, []
        return [r for r in rows if r.id in ours], [r for r in rows if r.id not in ours]

    def _row(self, integration: str, item: Incoming, run_id: str, now: datetime) -> dict:
        status, error_class, last_error = item.status, item.error_class, item.last_error
        if item.effect is not None and status == RECEIVED:
            status, error_class, last_error = rv.outcome_of(item.effect, item.reason, False, first=True)
        return dict(
            tenant=self.tenant,
            integration=integration,
            doc_type=item.doc_type,
            partner=item.partner,
            natural_key=item.natural_key,
            source_ref=item.source_ref,
            raw_payload=item.raw_payload,
            payload_hash=payload_hash(item.raw_payload),
            status=status,
            target_ref=item.target_ref,
            idempotency_key=idempotency_key(self.tenant, integration, item.doc_type, item.partner, item.natural_key),
            attempts=0,
            error_class=error_class,
            last_error=last_error,
            flow_run_id=run_id,
            doc_date=item.doc_date,
            created_at=now,
            updated_at=now,
            revision=1,
            applied_revision=1 if status == POSTED else None,
            effect=item.effect,
            source_version=None if item.source_version is None else str(item.source_version),
        )

    def _refresh(self, conn, row, item: Incoming, run_id: str, now: datetime) -> bool:
        # A partner re-sending a corrected document under the same number: if the old one never
        # posted, the new payload replaces it (and a new idempotency generation starts, since
        # the old write definitely did not happen). A posted document is never changed here.
        if row.status not in (FAILED, QUARANTINED) or row.payload_hash == payload_hash(item.raw_payload):
            return False
        generation = int(row.attempts) + 1
        conn.execute(
            update(documents)
            .where(and_(documents.c.id == row.id, documents.c.tenant == self.tenant, documents.c.status == row.status))
            .values(
                raw_payload=item.raw_payload,
                payload_hash=payload_hash(item.raw_payload),
                status=item.status,
                target_ref=item.target_ref,
                error_class=item.error_class,
                last_error=item.last_error,
                source_ref=item.source_ref,
                flow_run_id=run_id,
                updated_at=now,
                idempotency_key=idempotency_key(self.tenant, row.integration, row.doc_type, row.partner,
                                                row.natural_key, generation, row.revision),
            )
        )
        return True

    def rows_by_key(self, integration: str, keys: Sequence[tuple[str, str, str]]) -> dict[tuple, object]:
        """This tenant's document rows by (doc_type, partner, natural_key)."""
        with self.engine.connect() as conn:
            return self._existing(conn, integration, list(dict.fromkeys(keys)))

    def replace_payload(self, doc_id: int, raw: bytes, *, reopen_from: str | None = None, run_id: str | None = None) -> bool:
        """Store a newer payload for one of this tenant's documents. With ``reopen_from`` (a
        status), only a document in that status changes, and it goes back to received so the
        next post writes the new version. Returns whether the row changed."""
        cond = [documents.c.id == doc_id, documents.c.tenant == self.tenant]
        values = dict(raw_payload=raw, payload_hash=payload_hash(raw), updated_at=utcnow())
        if reopen_from is not None:
            cond.append(documents.c.status == reopen_from)
            values["status"] = RECEIVED
        if run_id is not None:
            values["flow_run_id"] = run_id
        with self.engine.begin() as conn:
            return bool(conn.execute(update(documents).where(*cond).values(**values)).rowcount)

    def _existing(self, conn, integration: str, keys: list[tuple]) -> dict[tuple, object]:
        found: dict[tuple, object] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            if not chunk:
                continue
            rows = conn.execute(
                select(documents).where(
                    documents.c.tenant == self.tenant,
                    documents.c.integration == integration,
                    tuple_(documents.c.doc_type, documents.c.partner, documents.c.natural_key).in_(chunk),
                )
            )
            for row in rows:
                found[(row.doc_type, row.partner, row.natural_key)] = row
        return found

    def _events(self, conn, integration: str, run_id: str, events: Iterable[tuple], now: datetime) -> None:
        # (document id, kind, reason) or (document id, kind, reason, revision)
        rows = [
            dict(document_id=e[0], tenant=self.tenant, integration=integration, flow_run_id=run_id, event=e[1],
                 reason=e[2], at=now, revision=e[3] if len(e) > 3 else None)
            for e in events
        ]
        if rows:
            conn.execute(insert(document_events), rows)

    # -- claim and outcome -----------------------------------------------------------------
    def claim(self, integration: str, ids: Sequence[int], run_id: str) -> list[Claimed]:
        """Atomically move documents from received to posting (the intent) for this run.
        Documents another run claimed first are simply not returned."""
        token = uuid.uuid4().hex
        now = utcnow()
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    update(documents)
                    .where(
                        documents.c.id.in_(ids[start : start + _CHUNK]),
                        documents.c.tenant == self.tenant,
                        documents.c.integration == integration,
                        documents.c.status == RECEIVED,
                    )
                    .values(
                        status=POSTING,
                        claim_token=token,
                        intent_at=now,
                        updated_at=now,
                        flow_run_id=run_id,
                        attempts=documents.c.attempts + 1,
                        claimed_revision=documents.c.revision,
                    )
                )
            rows = conn.execute(select(documents).where(documents.c.claim_token == token).order_by(documents.c.id))
            return [claimed_from(r) for r in rows]

    def record_outcomes(self, integration: str, outcomes: Sequence[Outcome], run_id: str) -> list[int]:
        """Write the outcome of each claimed document, and its event, in one transaction: one
        executemany UPDATE for the posted and one for the rest (a statement per document
        cost more than the post itself). A posted outcome applies the claimed revision.

        Revisions that arrived while a document was being written are taken up now; returns
        the documents that went back to received for one."""
        now = utcnow()
        common = dict(updated_at=now, flow_run_id=run_id, claim_token=None)
        posted = [dict(b_id=o.id, b_target=o.target_id) for o in outcomes if o.status == POSTED]
        other = [dict(b_id=o.id, b_status=o.status, b_class=o.error_class, b_error=o.error)
                 for o in outcomes if o.status != POSTED]
        by_id = update(documents).where(documents.c.id == bindparam("b_id"), documents.c.tenant == self.tenant)
        ids = [o.id for o in outcomes]
        with self.engine.begin() as conn:
            claimed = self._claimed_revisions(conn, ids)
            open_revs = rv.open_revisions(conn, self.tenant, list(claimed))
            if posted:
                conn.execute(by_id.values(status=POSTED, posted_at=now, error_class=None, last_error=None,
                                          target_id=func.coalesce(bindparam("b_target"), documents.c.target_id),
                                          applied_revision=func.coalesce(documents.c.claimed_revision,
                                                                         documents.c.revision),
                                          resending=None, **common), posted)
                rv.mark_applied(conn, [p for p in posted if p["b_id"] in open_revs], now)
            if other:
                conn.execute(by_id.values(status=bindparam("b_status"), error_class=bindparam("b_class"),
                                          last_error=bindparam("b_error"), **common), other)
            events = [(o.id, o.status, o.error, claimed.get(o.id)) for o in outcomes
                      if o.status in (POSTED, FAILED, QUARANTINED)]
            self._events(conn, integration, run_id, events, now)
            waiting = {doc_id: [r for r in revs if r.state == rv.WAITING] for doc_id, revs in open_revs.items()}
            return self._take_up_waiting(conn, integration, {d: w for d, w in waiting.items() if w}, run_id, now)

    def _claimed_revisions(self, conn, ids: list[int]) -> dict[int, int]:
        found = {}
        for start in range(0, len(ids), _CHUNK):
            rows = conn.execute(select(documents.c.id, documents.c.claimed_revision, documents.c.revision).where(
                documents.c.id.in_(ids[start:start + _CHUNK]), documents.c.tenant == self.tenant))
            found.update({r.id: r.claimed_revision or r.revision for r in rows})
        return found

    def _take_up_waiting(self, conn, integration: str, waiting: dict[int, list], run_id: str,
                         now: datetime) -> list[int]:
        """The newest revision that waited for each document's write becomes its revision now
        (the others it overtook are replaced)."""
        if not waiting:
            return []
        rows = {r.id: r for r in conn.execute(select(documents).where(documents.c.id.in_(list(waiting))))}
        reopened, events = [], []
        for doc_id, revs in waiting.items():
            latest = rv.latest_of(revs)
            rv.set_state(conn, [r.id for r in revs if r.id != latest.id], rv.REPLACED, "overtaken while waiting")
            rev = rv.Revision(rv.payload_of(conn, latest.id), latest.effect, latest.source_version, latest.reason)
            _id, kind, evs, status = rv.take(conn, rows[doc_id], rev, run_id, now, waiting_id=latest.id)
            events += evs
            if kind == REVISED and status == RECEIVED:
                reopened.append(doc_id)
        self._events(conn, integration, run_id, events, now)
        return reopened

    def pending_ids(self, integration: str, *, limit: int = 1000, after_id: int = 0,
                    doc_type: str | None = None) -> list[int]:
        """Documents stored but not yet posted (new, or back after a transient failure)."""
        query = (select(documents.c.id)
                 .where(documents.c.tenant == self.tenant, documents.c.integration == integration,
                        documents.c.status == RECEIVED, documents.c.id > after_id)
                 .order_by(documents.c.id)
                 .limit(limit))
        if doc_type is not None:
            query = query.where(documents.c.doc_type == doc_type)
        with self.engine.connect() as conn:
            return [r.id for r in conn.execute(query)]

    def stale_intents(self, integration: str, *, run_ids: Sequence[str] = (),
                      older_than: timedelta | None = None, claimer: str | None = None) -> list[Claimed]:
        """Documents left in posting (intent written, outcome not) by runs that are over
        (``run_ids``), or whose intent is older than the lease ``older_than``.

        Each is re-claimed under a new token and the ``claimer`` run, so a concurrent recovery
        (which only looks at runs that are over) cannot pick it too."""
        token = uuid.uuid4().hex
        stale = documents.c.flow_run_id.in_(list(run_ids)) if run_ids else None
        if older_than is not None:
            old = documents.c.intent_at <= utcnow() - older_than
            stale = old if stale is None else (stale | old)
        if stale is None:
            return []
        with self.engine.begin() as conn:
            conn.execute(
                update(documents)
                .where(documents.c.tenant == self.tenant, documents.c.integration == integration,
                       documents.c.status == POSTING, stale)
                .values(claim_token=token, intent_at=utcnow(), flow_run_id=claimer or documents.c.flow_run_id)
            )
            rows = conn.execute(select(documents).where(documents.c.claim_token == token).order_by(documents.c.id))
            return [claimed_from(r) for r in rows]

    # -- cursors ---------------------------------------------------------------------------
    def get_cursor(self, integration: str, name: str = "live") -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(cursors.c.value).where(self._cursor(integration, name))).first()
            return row.value if row else None

    def set_cursor(self, integration: str, value: str | None, name: str = "live") -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(cursors).where(self._cursor(integration, name)).values(value=value, updated_at=now)
            ).rowcount
            if not done:
                conn.execute(insert(cursors).values(tenant=self.tenant, integration=integration, name=name,
                                                    value=value, updated_at=now))

    def _cursor(self, integration: str, name: str):
        return and_(cursors.c.tenant == self.tenant, cursors.c.integration == integration, cursors.c.name == name)


def _result(new_rows: list, refreshed: list[tuple], dup_events: list[tuple], revised: list[tuple]) -> IngestResult:
    """A page's counts; ``revised`` holds (id, kind, events, status) of known documents' new contents."""
    kinds = [kind for _id, kind, _events, _status in revised]
    became = [(doc_id, status) for doc_id, kind, _events, status in revised if kind == REVISED]
    return IngestResult(
        new_ids=list(dict.fromkeys([r.id for r in new_rows if r.status == RECEIVED]
                                   + [i for i, s in refreshed + became if s == RECEIVED])),
        duplicates=sum(1 for e in dup_events if e[1] == DUPLICATE) + kinds.count(DUPLICATE),
        quarantined=sum(1 for r in new_rows if r.status == QUARANTINED)
        + sum(1 for _i, s in became if s == QUARANTINED),
        refreshed=len(refreshed),
        revised=kinds.count(REVISED),
        superseded=kinds.count(SUPERSEDED),
        waiting=kinds.count(WAITING),
    )
