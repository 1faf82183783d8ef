"""X12 control numbers and acknowledgment states, beside the ledger's documents.

``control_numbers`` holds one counter per tenant and trading partner (two companies sending to
the same retailer each keep their own sequence). :func:`next_control_numbers` takes
``count`` numbers in one conditional UPDATE (``value = value + count``): on PostgreSQL the row
lock it takes serializes concurrent callers, on SQLite the database write lock does, so two
workers never get the same number, and the counter lives in the ledger's database, so it
survives restarts.

``x12_acks`` is the acknowledgment view of each outbound X12 document (a ``documents`` row of
integration ``intacct-sterling``): the interchange, group and set control numbers it went out
with, and its state

    assigned ──delivered──> delivered ──997──> accepted | rejected (AK reasons)
                               └── no 997 within the deadline ──> overdue ──late 997──> accepted | rejected

The control numbers are assigned once per document revision and kept, so a delivery retried
after a lost response reuses them (and the message name derived from them). A new revision, or
a resend on purpose, goes out as an interchange of its own (:func:`assign_revision_controls`):
the row then tracks that interchange and its 997, and the one it replaces is kept as a
``x12_superseded`` event of the document (its numbers, state and reasons).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .schema import control_numbers, document_events, x12_acks
from .store import Ledger, utcnow

ASSIGNED, DELIVERED, ACCEPTED, REJECTED, OVERDUE = "assigned", "delivered", "accepted", "rejected", "overdue"
ACK_STATES = (ASSIGNED, DELIVERED, ACCEPTED, REJECTED, OVERDUE)
MAX_CONTROL = 999_999_999  # ISA13 is nine digits

def next_control_numbers(ledger: Ledger, partner: str, count: int = 1) -> list[int]:
    """``count`` fresh control numbers for ``partner``, unique across processes and restarts."""
    if count < 1:
        raise ValueError("count must be >= 1")
    counter = and_(control_numbers.c.tenant == ledger.tenant, control_numbers.c.partner == partner)
    for _ in range(5):
        with ledger.engine.begin() as conn:
            row = conn.execute(
                update(control_numbers).where(counter)
                .values(value=control_numbers.c.value + count, updated_at=utcnow())
                .returning(control_numbers.c.value)
            ).first()
            if row is not None:
                last = int(row[0])
                if last > MAX_CONTROL:  # wrapped: restart at 1 (partners accept reuse after years)
                    conn.execute(update(control_numbers).where(counter).values(value=count))
                    last = count
                return list(range(last - count + 1, last + 1))
        try:
            with ledger.engine.begin() as conn:
                conn.execute(insert(control_numbers).values(tenant=ledger.tenant, partner=partner, value=count,
                                                            updated_at=utcnow()))
            return list(range(1, count + 1))
        except IntegrityError:  # another caller created the row first: take the UPDATE path
            continue
    raise RuntimeError(f"could not allocate control numbers for {partner!r}")


@dataclass(frozen=True)
class Controls:
    interchange: int
    group: int
    set_control: str


def assign_controls(ledger: Ledger, doc_id: int, partner: str, doc_type: str, natural_key: str) -> Controls:
    """The control numbers of one outbound document: those it already has, or new ones."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(x12_acks).where(x12_acks.c.document_id == doc_id,
                                                  x12_acks.c.tenant == ledger.tenant)).first()
    if row is not None:
        return Controls(int(row.interchange), int(row.group_control), row.set_control)
    [n] = next_control_numbers(ledger, partner, 1)
    controls = Controls(n, n, f"{n:04d}")  # ST02: 4 to 9 characters
    try:
        with ledger.engine.begin() as conn:
            conn.execute(insert(x12_acks).values(
                document_id=doc_id, tenant=ledger.tenant, partner=partner, doc_type=doc_type, natural_key=natural_key,
                interchange=controls.interchange, group_control=controls.group, set_control=controls.set_control,
                state=ASSIGNED, updated_at=utcnow()))
    except IntegrityError:  # a concurrent build of the same document won; use its numbers
        return assign_controls(ledger, doc_id, partner, doc_type, natural_key)
    return controls


def assign_revision_controls(ledger: Ledger, doc_id: int, partner: str, doc_type: str, natural_key: str, *,
                             integration: str, revision: int, run_id: str) -> Controls:
    """The control numbers of a revision (or a resend) of an outbound document. Numbers still
    ``assigned`` belong to this write's own earlier attempt (an interchange that went out is
    marked delivered before its outcome is recorded), so they are kept; numbers that went out
    (delivered, accepted, rejected, overdue) belong to an earlier interchange and are never sent
    again: the row takes new ones, and the earlier interchange is kept as an event."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(x12_acks).where(x12_acks.c.document_id == doc_id,
                                                  x12_acks.c.tenant == ledger.tenant)).first()
    if row is None or row.state == ASSIGNED:
        return assign_controls(ledger, doc_id, partner, doc_type, natural_key)
    [n] = next_control_numbers(ledger, partner, 1)
    controls = Controls(n, n, f"{n:04d}")
    now = utcnow()
    earlier = (f"interchange {row.interchange} (group {row.group_control}, set {row.set_control}) "
               f"{row.state}" + (f": {'; '.join(json.loads(row.reasons))}" if row.reasons else ""))
    with ledger.engine.begin() as conn:
        moved = conn.execute(update(x12_acks).where(
            x12_acks.c.document_id == doc_id, x12_acks.c.tenant == ledger.tenant,
            x12_acks.c.interchange == row.interchange, x12_acks.c.state == row.state,
        ).values(interchange=controls.interchange, group_control=controls.group, set_control=controls.set_control,
                 state=ASSIGNED, reasons=None, message_id=None, delivered_at=None, acked_at=None,
                 updated_at=now)).rowcount
        if moved:
            conn.execute(insert(document_events).values(
                document_id=doc_id, tenant=ledger.tenant, integration=integration, flow_run_id=run_id,
                event="x12_superseded", reason=f"before revision {revision}: {earlier}"[:1000], at=now,
                revision=revision))
    if not moved:  # a 997 or a concurrent write changed the row meanwhile: decide on what it holds now
        return assign_revision_controls(ledger, doc_id, partner, doc_type, natural_key, integration=integration,
                                        revision=revision, run_id=run_id)
    return controls


def mark_delivered(ledger: Ledger, delivered: Sequence[tuple[int, str]]) -> None:
    """(document id, Sterling message id) of documents now in their partner's Inbox."""
    now = utcnow()
    with ledger.engine.begin() as conn:
        for doc_id, message_id in delivered:
            conn.execute(update(x12_acks).where(x12_acks.c.document_id == doc_id, x12_acks.c.tenant == ledger.tenant,
                                                x12_acks.c.state == ASSIGNED)
                         .values(state=DELIVERED, message_id=message_id, delivered_at=now, updated_at=now))


def apply_ack(ledger: Ledger, partner: str, group_control: int, set_control: str | None,
              accepted: bool, reasons: Sequence[str]) -> list[int]:
    """Apply one 997 verdict (a set's, or a whole group's when ``set_control`` is None) to the
    outbound documents it names; returns their document ids. Final states are not reopened,
    except overdue, which a late 997 settles."""
    cond = and_(x12_acks.c.tenant == ledger.tenant, x12_acks.c.partner == partner,
                x12_acks.c.group_control == group_control,
                x12_acks.c.state.in_((DELIVERED, OVERDUE, ASSIGNED)))
    if set_control is not None:
        cond = and_(cond, x12_acks.c.set_control == set_control)  # AK202 echoes ST02 exactly
    now = utcnow()
    with ledger.engine.begin() as conn:
        ids = [r.document_id for r in conn.execute(select(x12_acks.c.document_id).where(cond))]
        if ids:
            conn.execute(update(x12_acks).where(x12_acks.c.document_id.in_(ids)).values(
                state=ACCEPTED if accepted else REJECTED, reasons=json.dumps(list(reasons)) if reasons else None,
                acked_at=now, updated_at=now))
    return ids


def mark_overdue(ledger: Ledger, older_than: timedelta, now: datetime | None = None) -> list[tuple]:
    """Delivered documents without a 997 after ``older_than``: now overdue. Returns their
    (document id, partner, doc_type, natural key)."""
    now = now or utcnow()
    cond = and_(x12_acks.c.tenant == ledger.tenant, x12_acks.c.state == DELIVERED,
                x12_acks.c.delivered_at <= now - older_than)
    with ledger.engine.begin() as conn:
        rows = conn.execute(select(x12_acks.c.document_id, x12_acks.c.partner, x12_acks.c.doc_type,
                                   x12_acks.c.natural_key).where(cond)).all()
        if rows:
            conn.execute(update(x12_acks).where(x12_acks.c.document_id.in_([r[0] for r in rows]))
                         .values(state=OVERDUE, updated_at=now))
    return [tuple(r) for r in rows]


def ack_counts(ledger: Ledger) -> dict[str, int]:
    """Outbound X12 documents by acknowledgment state."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(x12_acks.c.state, func.count()).where(x12_acks.c.tenant == ledger.tenant)
                            .group_by(x12_acks.c.state)).all()
    found = {r[0]: r[1] for r in rows}
    return {s: found.get(s, 0) for s in ACK_STATES}


def ack_rows(ledger: Ledger, state: str | None = None, ids: Sequence[int] | None = None) -> list:
    """The tenant's acknowledgment rows, by state or document ids."""
    query = select(x12_acks).where(x12_acks.c.tenant == ledger.tenant).order_by(x12_acks.c.document_id)
    if state:
        query = query.where(x12_acks.c.state == state)
    if ids is not None:
        query = query.where(x12_acks.c.document_id.in_(list(ids)))
    with ledger.engine.connect() as conn:
        return conn.execute(query).all()
