"""Revisions of a document: which content is new, which is old news, and what the target must do.

A caller that passes an ``effect`` on :class:`~ml_connector.ledger.store.Incoming` asks for these
rules (one without keeps the rule of before revisions: a known key is a duplicate unless it
failed or was quarantined). For a document already in the ledger, the new content is

- a **duplicate** when its payload hash is one the document already had (any revision, any fate);
- **superseded** (recorded, never applied) when its ``source_version`` is older than the
  document's, or when it is an original (``create``) and the document already holds a later kind
  of revision (a change, replacement or cancellation) and no version says the original is newer;
- **waiting** while a write of the document is in flight: it is recorded and taken up when that
  write's outcome is;
- otherwise a **revision**: of a posted document, the next revision number, back to received
  with its own idempotency key and the target id kept; of a document not yet posted, it replaces
  the pending payload under the same revision number (one write, of the latest content).

A cancellation of a document nothing was posted for has nothing to apply: the document is
skipped with the reason. A revision that needs a person is quarantined with the caller's reason.

The sink is told what to do by :func:`sink_effect`, from what the target already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, insert, or_, select, update

from .keys import idempotency_key, payload_hash
from .schema import (
    POSTED,
    POSTING,
    QUARANTINED,
    READ,
    RECEIVED,
    REVISED,
    SKIPPED,
    document_revisions,
    documents,
)

CREATE, UPDATE, CANCEL, REPLACE, NEEDS_PERSON = "create", "update", "cancel", "replace", "needs_person"
EFFECTS = (CREATE, UPDATE, CANCEL, REPLACE, NEEDS_PERSON)

# What became of a revision (document_revisions.state).
PENDING, APPLIED, REPLACED, SUPERSEDED, WAITING, SKIPPED_REV = (
    "pending", "applied", "replaced", "superseded", "waiting", "skipped")

# Decisions for new content of a known document (besides SUPERSEDED and WAITING, the states).
DUPLICATE, REVISE = "duplicate", "revise"

_RACES = 5  # compare-and-set attempts of one content against runs changing the same document

CANCELLED_FIRST = "cancelled before any original was seen: nothing to apply"
CANCELLED_UNPOSTED = "cancelled before it was posted: nothing to apply"


@dataclass(frozen=True)
class Revision:
    """One content of a document as a source gave it."""

    raw_payload: bytes | None
    effect: str
    source_version: str | None = None
    reason: str | None = None
    source_ref: str | None = None
    target_ref: str | None = None
    # The reader's verdict on the content: anything but received (unparseable, routed nowhere)
    # holds the revision back with that status and error, whatever its effect.
    status: str = RECEIVED
    error_class: str | None = None
    error: str | None = None

    @property
    def hash(self) -> str | None:
        return payload_hash(self.raw_payload)


def check(effect: str, reason: str | None) -> None:
    """Refuse, in one line, an effect the rules do not know or a person's task without a reason."""
    if effect not in EFFECTS:
        raise ValueError(f"unknown revision effect {effect!r}: one of {', '.join(EFFECTS)}")
    if effect == NEEDS_PERSON and (not reason or "\n" in reason):
        raise ValueError("a revision that needs a person carries a one-line reason")


def older(a: str | None, b: str | None) -> bool:
    """Whether source version ``a`` comes strictly before ``b``: as numbers when both are
    (purpose-code sequences, SyncTokens), else as strings (ISO timestamps sort as text).
    Without both there is no order."""
    if a is None or b is None:
        return False
    try:
        return Decimal(a) < Decimal(b)
    except InvalidOperation:
        return a < b


def sink_effect(row) -> str:
    """What the write for a document's latest revision must do in the target. Nothing of it in
    the target yet: create it (whatever the source called the content). Otherwise the source's
    effect, an original's content or a person's released task being an update. A resend on
    purpose sends what the target holds again."""
    effect = row.effect
    if getattr(row, "resending", False):
        return CREATE if effect in (None, CREATE, NEEDS_PERSON) else effect
    if row.applied_revision is None:
        return CANCEL if effect == CANCEL else CREATE
    return UPDATE if effect in (None, CREATE, NEEDS_PERSON) else effect


def decide(row, rev: Revision, known: set[str | None]) -> tuple[str, str | None]:
    """(decision, reason) for new content of a known document; ``known`` holds the hashes of the
    document's recorded revisions."""
    digest = rev.hash
    if digest == row.payload_hash or digest in known:
        return DUPLICATE, f"already {row.status} (revision {row.revision})"
    if older(rev.source_version, row.source_version):
        return SUPERSEDED, (f"source version {rev.source_version} is older than revision {row.revision}'s "
                            f"{row.source_version}")
    if (rev.effect == CREATE and (row.effect or CREATE) != CREATE
            and not older(row.source_version, rev.source_version)):
        return SUPERSEDED, f"an original after the document's {row.effect} (revision {row.revision})"
    if row.status == POSTING:
        return WAITING, f"revision {row.revision} is being written; taken up after its outcome"
    return REVISE, None


def outcome_of(effect: str, reason: str | None, in_target: bool, *,
               first: bool = False) -> tuple[str, str | None, str | None]:
    """(status, error_class, last_error) of a document whose latest revision has ``effect``."""
    if effect == CANCEL and not in_target:
        return SKIPPED, None, CANCELLED_FIRST if first else CANCELLED_UNPOSTED
    if effect == NEEDS_PERSON:
        return QUARANTINED, NEEDS_PERSON, reason
    return RECEIVED, None, None


def state_of(status: str) -> str:
    return {SKIPPED: SKIPPED_REV, QUARANTINED: NEEDS_PERSON}.get(status, PENDING)


def known_hashes(conn, doc_id: int, but: int | None = None) -> set[str | None]:
    """The content hashes of a document's recorded revisions (``but``: leave that one out)."""
    query = select(document_revisions.c.payload_hash).where(document_revisions.c.document_id == doc_id)
    if but is not None:
        query = query.where(document_revisions.c.id != but)
    return {r.payload_hash for r in conn.execute(query)}


def record(conn, row, rev: Revision, *, revision: int | None, state: str, run_id: str, now: datetime,
           reason: str | None = None) -> None:
    """Keep one content of a document in its history."""
    conn.execute(insert(document_revisions).values(
        document_id=row.id, tenant=row.tenant, integration=row.integration, revision=revision,
        payload_hash=rev.hash, raw_payload=rev.raw_payload, source_version=rev.source_version,
        effect=rev.effect, reason=reason or rev.reason, state=state, flow_run_id=run_id, created_at=now))


def first_revisions(conn, rows_and_revs: list[tuple], run_id: str, now: datetime) -> None:
    """Revision 1 of documents read for the first time, in one statement."""
    if rows_and_revs:
        conn.execute(insert(document_revisions), [
            dict(document_id=row.id, tenant=row.tenant, integration=row.integration, revision=1,
                 payload_hash=rev.hash, raw_payload=rev.raw_payload, source_version=rev.source_version,
                 effect=rev.effect, reason=rev.reason or (row.last_error if row.status == SKIPPED else None),
                 state=state_of(row.status), flow_run_id=run_id, created_at=now)
            for row, rev in rows_and_revs])


def revise(conn, row, rev: Revision, known: set[str | None], run_id: str, now: datetime,
           waiting_id: int | None = None) -> tuple[int, str] | None:
    """Make ``rev`` the document's latest revision; returns (revision, status), or None when
    another run changed the document first (compare-and-set on its status, revision and hash)."""
    in_target = row.applied_revision is not None
    posted = row.status == POSTED
    number = row.revision + 1 if posted else row.revision
    status, error_class, error = outcome_of(rev.effect, rev.reason, in_target)
    if rev.status != RECEIVED:
        status, error_class, error = rev.status, rev.error_class, rev.error
    if posted:
        key = idempotency_key(row.tenant, row.integration, row.doc_type, row.partner, row.natural_key, 0, number)
    elif row.status == RECEIVED:
        key = row.idempotency_key  # its write may be retried under this key: keep the one key
    else:  # failed, quarantined or skipped: its earlier write definitely did not happen
        key = idempotency_key(row.tenant, row.integration, row.doc_type, row.partner, row.natural_key,
                              int(row.attempts) + 1, number)
    values = dict(raw_payload=rev.raw_payload, payload_hash=rev.hash, effect=rev.effect,
                  source_version=rev.source_version, revision=number, status=status, error_class=error_class,
                  last_error=error, idempotency_key=key, flow_run_id=run_id, updated_at=now, resending=None)
    if rev.source_ref:
        values["source_ref"] = rev.source_ref
    if rev.target_ref:
        values["target_ref"] = rev.target_ref
    changed = conn.execute(update(documents).where(
        documents.c.id == row.id, documents.c.tenant == row.tenant, documents.c.status == row.status,
        documents.c.revision == row.revision, documents.c.payload_hash.is_not_distinct_from(row.payload_hash),
    ).values(**values)).rowcount
    if not changed:
        return None
    _keep_current(conn, row, known, posted, now)
    if waiting_id is None:
        record(conn, row, rev, revision=number, state=state_of(status), run_id=run_id, now=now, reason=error)
    else:
        conn.execute(update(document_revisions).where(document_revisions.c.id == waiting_id)
                     .values(revision=number, state=state_of(status), reason=error or rev.reason, flow_run_id=run_id))
    return number, status


def _keep_current(conn, row, known: set[str | None], posted: bool, now: datetime) -> None:
    """The content being replaced stays in the history: applied when the target holds it,
    replaced when it was never written. A document first read without revision information
    has no history yet: its one content is recorded now."""
    if row.payload_hash not in known:
        state = APPLIED if posted else REPLACED
        conn.execute(insert(document_revisions).values(
            document_id=row.id, tenant=row.tenant, integration=row.integration, revision=row.revision,
            payload_hash=row.payload_hash, raw_payload=row.raw_payload, source_version=row.source_version,
            effect=row.effect or CREATE, state=state, target_id=row.target_id if posted else None,
            flow_run_id=row.flow_run_id, created_at=row.created_at, applied_at=row.posted_at if posted else None))
    elif not posted:
        conn.execute(update(document_revisions).where(
            document_revisions.c.document_id == row.id, document_revisions.c.revision == row.revision,
            document_revisions.c.state.in_((PENDING, SKIPPED_REV, NEEDS_PERSON)),
        ).values(state=REPLACED))


def mark_applied(conn, posted: list[dict], now: datetime) -> None:
    """The claimed revision of each posted document is applied (``b_id``, ``b_target``)."""
    if not posted:
        return
    claimed = (select(documents.c.claimed_revision).where(documents.c.id == bindparam("b_id"))
               .scalar_subquery())
    conn.execute(update(document_revisions).where(
        document_revisions.c.document_id == bindparam("b_id"), document_revisions.c.revision == claimed,
        # not in_(): an expanding IN cannot go in an executemany
        or_(*(document_revisions.c.state == s for s in (PENDING, NEEDS_PERSON, SKIPPED_REV))),
    ).values(state=APPLIED, applied_at=now, target_id=bindparam("b_target")), posted)


def open_revisions(conn, tenant: str, ids: list[int]) -> dict[int, list]:
    """The revisions of these documents still to be applied or taken up (pending, for a person,
    skipped, waiting), by document, without their payloads; documents with none are absent, so
    documents read without revision information cost one indexed look-up per page."""
    found: dict[int, list] = {}
    columns = [c for c in document_revisions.c if c.name != "raw_payload"]
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(*columns).where(
            document_revisions.c.tenant == tenant, document_revisions.c.document_id.in_(ids[start:start + 500]),
            document_revisions.c.state.in_((PENDING, NEEDS_PERSON, SKIPPED_REV, WAITING)),
        ).order_by(document_revisions.c.id))
        for r in rows:
            found.setdefault(r.document_id, []).append(r)
    return found


def payload_of(conn, revision_id: int) -> bytes | None:
    return conn.execute(select(document_revisions.c.raw_payload)
                        .where(document_revisions.c.id == revision_id)).scalar_one()


def latest_of(waiting_rows: list) -> object:
    """The newest of a document's waiting revisions: by source version where they have one,
    else the last read."""
    latest = waiting_rows[0]
    for r in waiting_rows[1:]:
        if not older(r.source_version, latest.source_version):
            latest = r
    return latest


def set_state(conn, revision_ids: list[int], state: str, reason: str | None = None) -> None:
    if revision_ids:
        values = dict(state=state) if reason is None else dict(state=state, reason=reason)
        conn.execute(update(document_revisions).where(document_revisions.c.id.in_(revision_ids)).values(**values))


def take(conn, row, rev: Revision, run_id: str, now: datetime,
         waiting_id: int | None = None) -> tuple[int, str, list[tuple], str | None]:
    """Apply the rules to new content of a known document: (id, what it was, its events, the
    document's status when it became a revision). ``waiting_id``: the content is that waiting
    revision, taken up after a write's outcome (its read was counted when it arrived)."""
    read = [] if waiting_id is not None else [(row.id, READ, None, row.revision)]
    for _ in range(_RACES):
        known = set() if rev.hash == row.payload_hash else known_hashes(conn, row.id, but=waiting_id)
        decision, reason = decide(row, rev, known)
        if decision != REVISE:
            break
        done = revise(conn, row, rev, known, run_id, now, waiting_id=waiting_id)
        if done is not None:
            break
        # another run changed the document since it was read: decide again against what it wrote
        row = conn.execute(select(documents).where(documents.c.id == row.id)).one()
    else:
        return row.id, DUPLICATE, read + [(row.id, DUPLICATE, "changed by other runs meanwhile", row.revision)], None
    if decision == REVISE:
        number, status = done
        events = [(row.id, REVISED, f"revision {number}: {rev.effect}", number)]
        if status in (SKIPPED, QUARANTINED):
            events.append((row.id, status, _held_because(rev, status), number))
        return row.id, REVISED, read + events, status
    if decision in (SUPERSEDED, WAITING):
        if waiting_id is None:
            record(conn, row, rev, revision=None, state=decision, run_id=run_id, now=now, reason=reason)
        else:
            set_state(conn, [waiting_id], decision, reason)
    elif waiting_id is not None:
        set_state(conn, [waiting_id], REPLACED, reason)
    return row.id, decision, read + [(row.id, decision, reason, row.revision)], None


def _held_because(rev: Revision, status: str) -> str | None:
    if rev.status != RECEIVED:
        return rev.error
    return rev.reason if status == QUARANTINED else CANCELLED_UNPOSTED
