"""What goes into the ledger and comes out of it: a document read, a page's result, a claimed
document and the outcome of its write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from . import revisions as rv
from .schema import RECEIVED


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Incoming:
    """A document as read from the source, before posting."""

    doc_type: str
    partner: str
    natural_key: str
    source_ref: str
    raw_payload: bytes | None
    status: str = RECEIVED
    target_ref: str | None = None
    error_class: str | None = None
    last_error: str | None = None
    doc_date: str | None = None
    # Revision information (ledger/revisions.py); without an effect, a known key is a duplicate
    # unless it failed or was quarantined, as before revisions.
    effect: str | None = None  # create, update, cancel, replace or needs_person
    source_version: str | int | None = None  # the source's order: sequence, updated_at, SyncToken
    reason: str | None = None  # one line, for needs_person

    def revision(self) -> rv.Revision:
        version = None if self.source_version is None else str(self.source_version)
        return rv.Revision(self.raw_payload, self.effect, version, self.reason, self.source_ref, self.target_ref,
                           self.status, self.error_class, self.last_error)


@dataclass(frozen=True)
class IngestResult:
    new_ids: list[int]
    duplicates: int
    quarantined: int
    refreshed: int = 0
    revised: int = 0  # known documents whose new content is now their pending revision
    superseded: int = 0  # content older than the document's: recorded, never applied
    waiting: int = 0  # new content of a document being written: taken up after the outcome


@dataclass(frozen=True)
class Claimed:
    """A document claimed for posting by one run: everything the post step needs."""

    id: int
    doc_type: str
    partner: str
    natural_key: str
    source_ref: str
    raw_payload: bytes | None
    target_ref: str | None
    idempotency_key: str
    attempts: int
    revision: int = 1
    effect: str = rv.CREATE  # what the write must do in the target (revisions.sink_effect)
    target_id: str | None = None  # the target's id of the document, when an earlier revision is there
    resend: bool = False  # a resend on purpose of what the target holds (Ledger.resend)


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed document. ``status`` RECEIVED means "try again later"."""

    id: int
    status: str
    target_id: str | None = None
    error_class: str | None = None
    error: str | None = None


def claimed_from(row) -> Claimed:
    """The claimed document of a row just moved to posting."""
    return Claimed(
        id=row.id,
        doc_type=row.doc_type,
        partner=row.partner,
        natural_key=row.natural_key,
        source_ref=row.source_ref,
        raw_payload=row.raw_payload,
        target_ref=row.target_ref,
        idempotency_key=row.idempotency_key,
        attempts=row.attempts,
        revision=row.claimed_revision or row.revision,
        effect=rv.sink_effect(row),
        target_id=row.target_id,
        resend=bool(row.resending),
    )
