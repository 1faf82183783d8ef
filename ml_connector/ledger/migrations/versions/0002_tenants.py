"""Tenants: every table carries the tenant, and it leads every key.

Rows already in the ledger get the tenant the operator names (``ml-connector ledger upgrade
--tenant T``, passed in as the config attribute ``tenant``); with rows and no tenant the
upgrade is refused, never guessed.

Revision ID: 0002
Revises: 0001
"""

import warnings

import sqlalchemy as sa
from alembic import context, op

from ml_connector.ledger.migrate import LedgerSchemaError, rows_without_tenant

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("documents", "document_events", "cursors", "control_numbers", "x12_acks")
# Primary keys that gain the tenant: (table, old key, new key).
_KEYS = (("cursors", ("integration", "name")), ("control_numbers", ("partner",)))


def upgrade() -> None:
    bind = op.get_bind()
    tenant = context.config.attributes.get("tenant")
    if tenant is None and rows_without_tenant(bind):
        raise LedgerSchemaError("the ledger holds rows written before tenants existed; name their tenant: "
                                "ml-connector ledger upgrade --tenant <tenant>")
    # The server default fills existing rows, then goes: a row written later must name its tenant.
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default=tenant or ""))
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("tenant", server_default=None, existing_type=sa.String(64), existing_nullable=False)
        batch.drop_constraint("uq_document_key", type_="unique")
        batch.create_unique_constraint("uq_document_key", ["tenant", "integration", "doc_type", "partner", "natural_key"])
        batch.drop_index("ix_documents_status")
        batch.create_index("ix_documents_status", ["tenant", "integration", "status"])
    with op.batch_alter_table("document_events") as batch:
        batch.alter_column("tenant", server_default=None, existing_type=sa.String(64), existing_nullable=False)
        batch.drop_index("ix_events_run")
        batch.create_index("ix_events_run", ["flow_run_id", "tenant", "integration"])
    with op.batch_alter_table("x12_acks") as batch:
        batch.alter_column("tenant", server_default=None, existing_type=sa.String(64), existing_nullable=False)
        batch.create_index("ix_x12_acks_group", ["tenant", "partner", "group_control"])
    for table, key in _KEYS:
        _lead_key_with_tenant(table, key)


def _lead_key_with_tenant(table: str, key: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a primary key: batch mode rebuilds the table with the new one
        # (SQLAlchemy warns that the rebuilt table's key differs from the old one: that is the point).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.alter_column("tenant", server_default=None, existing_type=sa.String(64), existing_nullable=False)
                batch.create_primary_key(f"pk_{table}", ["tenant", *key])
        return
    op.alter_column(table, "tenant", server_default=None)
    op.drop_constraint(f"{table}_pkey", table, type_="primary")
    op.create_primary_key(f"{table}_pkey", table, ["tenant", *key])


def downgrade() -> None:
    raise NotImplementedError("the ledger does not go back to one without tenants: restore a backup instead")
