"""Alembic's entry point for the ledger: always online, on the connection ledger/migrate.py
passes in (so the migration runs inside its schema lock and transaction)."""

from alembic import context

from ml_connector.ledger.migrate import VERSION_TABLE
from ml_connector.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
