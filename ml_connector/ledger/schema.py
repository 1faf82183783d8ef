"""Ledger tables: one row per document, its events, the cursors and the X12 counters.

Every table carries the tenant: many companies share one ledger with the same partner ids and
document numbers, so a document row is keyed by (tenant, integration, doc_type, partner,
natural_key) and every query of :class:`~ml_connector.ledger.store.Ledger` is scoped to the
tenant it was opened for. Its ``status`` moves

    received ──claim──> posting ──outcome──> posted | failed
        │                  └── crash: stays posting; the next run resolves it in the target
        └── (bad input) quarantined          skipped (routed nowhere, or dry run)

and every move is also written to ``document_events`` with the flow run that made it, so a
run's counts are a query over events, never a tally kept on the side.

A document has revisions, identified by the hash of their source payload (``ledger/revisions.py``
holds the rules). The row always carries the latest revision (``revision``, its payload, its
``effect`` and ``source_version``); ``applied_revision`` is the last one the target reflects
and ``claimed_revision`` the one a write is in flight for. ``document_revisions`` keeps every
revision's payload and what became of it (pending, applied, replaced, superseded, waiting,
skipped, needs_person).

The schema is versioned with Alembic (``ledger/migrations/``); change a table here and add a
revision there together.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Statuses a run may still act on, and the ones that are final until a replay.
RECEIVED, POSTING, POSTED, FAILED, QUARANTINED, SKIPPED = (
    "received",
    "posting",
    "posted",
    "failed",
    "quarantined",
    "skipped",
)
STATUSES = (RECEIVED, POSTING, POSTED, FAILED, QUARANTINED, SKIPPED)

# Event kinds, one per line of a run's report.
READ, DUPLICATE = "read", "duplicate"
# Event kinds of revisions and resends (ledger/revisions.py).
REVISED, SUPERSEDED, WAITING, RESEND = "revised", "superseded", "waiting", "resend"

_id_type = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only

documents = Table(
    "documents",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("integration", String(64), nullable=False),
    Column("doc_type", String(32), nullable=False),
    Column("partner", String(64), nullable=False, default=""),
    Column("natural_key", String(256), nullable=False),
    Column("source_ref", String(512), nullable=False, default=""),
    Column("raw_payload", LargeBinary, nullable=True),
    Column("payload_hash", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("target_ref", String(256), nullable=True),  # the key we write in the target (bill no.)
    Column("target_id", String(128), nullable=True),  # the target's own id (RECORDNO)
    Column("idempotency_key", String(256), nullable=True),
    Column("claim_token", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error_class", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("flow_run_id", String(64), nullable=True),
    Column("doc_date", String(10), nullable=True),  # ISO date of the document, for backfill windows
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("intent_at", DateTime(timezone=True), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("revision", Integer, nullable=False, default=1, server_default="1"),  # the latest revision
    Column("applied_revision", Integer, nullable=True),  # the last revision the target reflects
    Column("claimed_revision", Integer, nullable=True),  # the revision the write in flight is for
    Column("effect", String(16), nullable=True),  # the latest revision's effect, as the source said
    Column("source_version", String(64), nullable=True),  # the latest revision's source ordering value
    Column("resending", Boolean, nullable=True),  # a resend on purpose is pending (Ledger.resend)
    UniqueConstraint("tenant", "integration", "doc_type", "partner", "natural_key", name="uq_document_key"),
    Index("ix_documents_status", "tenant", "integration", "status"),
    Index("ix_documents_run", "flow_run_id"),
)

document_events = Table(
    "document_events",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("document_id", _id_type, ForeignKey("documents.id"), nullable=True),
    Column("tenant", String(64), nullable=False),
    Column("integration", String(64), nullable=False),
    Column("flow_run_id", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("revision", Integer, nullable=True),  # the document's revision the event is about
    Index("ix_events_run", "flow_run_id", "tenant", "integration"),
    Index("ix_events_doc", "document_id"),
)

# Every revision of a document the ledger was told about, with its payload and fate. A document
# read only by callers that pass no revision information has none (its one revision is the row).
document_revisions = Table(
    "document_revisions",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("document_id", _id_type, ForeignKey("documents.id"), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("integration", String(64), nullable=False),
    Column("revision", Integer, nullable=True),  # none for one never current (superseded, waiting)
    Column("payload_hash", String(64), nullable=True),
    Column("raw_payload", LargeBinary, nullable=True),
    Column("source_version", String(64), nullable=True),
    Column("effect", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("state", String(16), nullable=False),
    Column("target_id", String(128), nullable=True),
    Column("flow_run_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=True),
    Index("ix_revisions_doc", "document_id", "state"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("integration", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One X12 control-number counter per tenant and trading partner: see ledger/x12_controls.py.
control_numbers = Table(
    "control_numbers",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("partner", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),  # the last number handed out
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The acknowledgment view of each outbound X12 document: see ledger/x12_controls.py.
x12_acks = Table(
    "x12_acks",
    metadata,
    Column("document_id", _id_type, primary_key=True),  # documents.id of the outbound 810/850
    Column("tenant", String(64), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("doc_type", String(32), nullable=False),
    Column("natural_key", String(256), nullable=False),
    Column("interchange", BigInteger, nullable=False),
    Column("group_control", BigInteger, nullable=False),
    Column("set_control", String(9), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reasons", Text, nullable=True),  # JSON list of the AK3/AK4/AK5/AK9 reasons
    Column("message_id", String(128), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_x12_acks_group", "tenant", "partner", "group_control"),
)
