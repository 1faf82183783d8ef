"""Baseline: the ledger as releases before versioning wrote it (no tenant column).

Creates whichever of its tables are missing, so it also serves as the first step of upgrading a
ledger written before versioning (those created the X12 tables only once Sterling ran).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _tables() -> sa.MetaData:
    meta = sa.MetaData()
    sa.Table(
        "documents", meta,
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("doc_type", sa.String(32), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("natural_key", sa.String(256), nullable=False),
        sa.Column("source_ref", sa.String(512), nullable=False),
        sa.Column("raw_payload", sa.LargeBinary, nullable=True),
        sa.Column("payload_hash", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("target_ref", sa.String(256), nullable=True),
        sa.Column("target_id", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error_class", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("doc_date", sa.String(10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("integration", "doc_type", "partner", "natural_key", name="uq_document_key"),
        sa.Index("ix_documents_status", "integration", "status"),
        sa.Index("ix_documents_run", "flow_run_id"),
    )
    sa.Table(
        "document_events", meta,
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("document_id", _id, sa.ForeignKey("documents.id"), nullable=True),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_events_run", "flow_run_id", "integration"),
        sa.Index("ix_events_doc", "document_id"),
    )
    sa.Table(
        "cursors", meta,
        sa.Column("integration", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "control_numbers", meta,
        sa.Column("partner", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "x12_acks", meta,
        sa.Column("document_id", _id, primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("doc_type", sa.String(32), nullable=False),
        sa.Column("natural_key", sa.String(256), nullable=False),
        sa.Column("interchange", sa.BigInteger, nullable=False),
        sa.Column("group_control", sa.BigInteger, nullable=False),
        sa.Column("set_control", sa.String(9), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text, nullable=True),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    return meta


def upgrade() -> None:
    _tables().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _tables().drop_all(op.get_bind())
