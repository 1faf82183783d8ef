"""Revisions: a document keeps its revisions, the one the target reflects and the one in flight.

Every document already in the ledger is at revision 1 (its idempotency key is unchanged: the key
of revision 1 is the key of before). The target reflects that revision where the document was
posted, or was posted once and reopened since (it has a target id); a write in flight at the
upgrade is for revision 1. Their history starts when a second content of them arrives.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("applied_revision", sa.Integer, nullable=True))
        batch.add_column(sa.Column("claimed_revision", sa.Integer, nullable=True))
        batch.add_column(sa.Column("effect", sa.String(16), nullable=True))
        batch.add_column(sa.Column("source_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("resending", sa.Boolean, nullable=True))
    with op.batch_alter_table("document_events") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=True))
    op.execute("UPDATE documents SET applied_revision = 1 WHERE status = 'posted' OR target_id IS NOT NULL")
    op.execute("UPDATE documents SET claimed_revision = 1 WHERE status = 'posting'")
    op.create_table(
        "document_revisions",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("document_id", _id, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.Column("payload_hash", sa.String(64), nullable=True),
        sa.Column("raw_payload", sa.LargeBinary, nullable=True),
        sa.Column("source_version", sa.String(64), nullable=True),
        sa.Column("effect", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=True),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_revisions_doc", "document_revisions", ["document_id", "state"])


def downgrade() -> None:
    raise NotImplementedError("the ledger does not go back to one without revisions: restore a backup instead")
