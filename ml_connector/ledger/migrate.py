"""The ledger's schema version: a new ledger starts at the current schema, an older one is
refused until an operator upgrades it, and ``upgrade`` moves it there keeping every row.

The revisions are Alembic scripts in ``ledger/migrations/versions`` (SQLite and PostgreSQL),
recorded in the table ``ledger_schema_version`` (not Alembic's default name, so a ledger that
shares a database with another Alembic-managed schema, Prefect's for one, keeps its own).
Ledgers written before versioning have no such table; they hold the baseline schema
(revision 0001) and are upgraded from there.

Rows written before tenants existed carry no tenant, and nothing in them tells which company
they belong to: ``upgrade`` takes the tenant from the operator (``--tenant``) and refuses to
guess when rows exist and none is named.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from .engine import ledger_engine, shown

HEAD = "0003"
BASELINE = "0001"
TENANTS = "0002"  # the first schema with tenants: upgrading from it needs none named
VERSION_TABLE = "ledger_schema_version"
# The tables of the baseline schema, as ledgers before versioning created them.
BASELINE_TABLES = ("documents", "document_events", "cursors", "control_numbers", "x12_acks")
_PG_LOCK_KEY = 7_214_390_112  # any constant: serializes schema changes across processes
UPGRADE_HINT = "ml-connector ledger upgrade --tenant <tenant of its existing rows>"


class LedgerSchemaError(RuntimeError):
    """The ledger's schema is not one this build can use or upgrade; the message is one line."""


def revision(engine: Engine) -> str | None:
    """The ledger's schema revision: None for an empty database, ``"unversioned"`` for a ledger
    written before versioning."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if VERSION_TABLE in tables:
            row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
            return row[0] if row else None
    return "unversioned" if "documents" in tables else None


def prepare(engine: Engine, *, create: bool = True) -> None:
    """Make sure the ledger is at the current schema before anything reads or writes it:
    create a new one (when ``create``), accept one at head, refuse anything else."""
    current = revision(engine)
    if current == HEAD:
        return
    if create:
        # Read again under the lock: another process may be creating the ledger right now, its
        # tables there and its version not yet stamped, which reads as an unversioned ledger.
        with _schema_lock(engine):
            current = revision(engine)
            if current is None:
                _create(engine)
                return
            if current == HEAD:
                return
    raise LedgerSchemaError(_refusal(engine, current))


def upgrade(url: str, tenant: str | None = None) -> tuple[str | None, str]:
    """Bring the ledger at ``url`` to the current schema; returns (revision before, after).

    ``tenant`` is the tenant of the rows written before tenants existed; required when there
    are any."""
    engine = ledger_engine(url)
    try:
        with _schema_lock(engine):
            before = revision(engine)
            if before is None:
                _create(engine)
                return None, HEAD
            if before == HEAD:
                return HEAD, HEAD
            _check_upgradable(engine, before, tenant)
            with engine.begin() as conn:
                from alembic import command

                command.upgrade(_config(conn, tenant), HEAD)
            return before, revision(engine)
    finally:
        engine.dispose()


def rows_without_tenant(conn: Connection) -> int:
    """The rows of a ledger's baseline tables (before tenants, none of them has one)."""
    present = set(inspect(conn).get_table_names())
    return sum(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in BASELINE_TABLES if t in present)


def _check_upgradable(engine: Engine, current: str | None, tenant: str | None) -> None:
    if current not in ("unversioned", BASELINE, TENANTS):
        raise LedgerSchemaError(_refusal(engine, current))
    if current == TENANTS:
        return
    if current == "unversioned":
        columns = {c["name"] for c in inspect(engine).get_columns("documents")}
        if "tenant" in columns:
            raise LedgerSchemaError(
                f"ledger {shown(engine)} has tenant columns but no schema version: it was not written by any "
                "release of ml-connector; refusing to guess how to upgrade it")
    with engine.connect() as conn:
        rows = rows_without_tenant(conn)
    if tenant is None and rows:
        raise LedgerSchemaError(
            f"ledger {shown(engine)} holds rows written before tenants existed; name their tenant: "
            "ml-connector ledger upgrade --tenant <tenant>")


def _refusal(engine: Engine, current: str | None) -> str:
    where = shown(engine)
    if current in ("unversioned", BASELINE):
        at = "predates schema versions" if current == "unversioned" else f"is at schema {current}"
        return (f"ledger {where} {at}, behind this build's {HEAD} (tenant-scoped keys); "
                f"upgrade it first: {UPGRADE_HINT}")
    if current == TENANTS:
        return (f"ledger {where} is at schema {current}, behind this build's {HEAD} (document revisions); "
                "upgrade it first: ml-connector ledger upgrade")
    if current is None:
        return f"ledger {where} has no tables yet: ml-connector ledger upgrade creates it"
    return (f"ledger {where} is at schema {current!r}, which this build (schema {HEAD}) does not know: "
            "it was written by a newer ml-connector; upgrade ml-connector")


def _create(engine: Engine) -> None:
    """A new ledger: every table at the current schema, stamped with the head revision."""
    from .schema import metadata

    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text(f"DELETE FROM {VERSION_TABLE}"))
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": HEAD})


def _config(conn, tenant: str | None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = conn
    config.attributes["tenant"] = tenant
    return config


@contextlib.contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """One schema change at a time across processes: an advisory lock on PostgreSQL, a lock
    file beside a SQLite file (two workers opening a new ledger at once)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        from ..connectors.qbo.tokens import file_lock

        with file_lock(Path(f"{database}.schema-lock")):
            yield
        return
    yield
