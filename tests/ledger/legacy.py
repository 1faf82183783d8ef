"""A ledger as releases before versioning wrote it (no tenant anywhere), with a few rows."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

import ml_connector.ledger.migrate as migrate

_BASELINE = Path(migrate.__file__).with_name("migrations") / "versions" / "0001_baseline.py"


def baseline_tables():
    spec = importlib.util.spec_from_file_location("ledger_baseline", _BASELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._tables()


def write_legacy_ledger(url: str, *, documents: int = 3, with_x12: bool = True) -> None:
    """The old schema, with documents, events, a cursor and (optionally) X12 counters."""
    meta = baseline_tables()
    names = ["documents", "document_events", "cursors"] + (["control_numbers", "x12_acks"] if with_x12 else [])
    engine = create_engine(url)
    meta.create_all(engine, tables=[meta.tables[n] for n in names])
    now = datetime.now(UTC)
    t = meta.tables
    with engine.begin() as conn:
        if documents:
            conn.execute(t["documents"].insert(), [
                dict(integration="sps-intacct", doc_type="order", partner="WALMART", natural_key=f"PO-{n}",
                     source_ref=f"out/PO-{n}.xml", raw_payload=b"<Order/>", status="posted", attempts=1,
                     idempotency_key=f"mlc-old-{n}", target_id=str(100 + n), created_at=now, updated_at=now)
                for n in range(documents)])
            conn.execute(t["document_events"].insert(), [
                dict(document_id=n + 1, integration="sps-intacct", flow_run_id="old-run", event="posted", at=now)
                for n in range(documents)])
            conn.execute(t["cursors"].insert(), [dict(integration="sps-intacct", name="live", value="c-41",
                                                      updated_at=now)])
            if with_x12:
                conn.execute(t["control_numbers"].insert(), [dict(partner="WALMART", value=41, updated_at=now)])
    engine.dispose()


def write_tenant_ledger(url: str, tenant: str = "acme") -> None:
    """A ledger at schema 0002 (tenants, before revisions), with a posted, a received, a failed
    document and one whose write was in flight, each keyed as that release keyed them."""
    from alembic import command
    from sqlalchemy import text

    from ml_connector.ledger.keys import idempotency_key

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn, None), "0002")
    now = datetime.now(UTC)
    rows = [("PO-0", "posted", "BILL-0"), ("PO-1", "received", None), ("PO-2", "failed", None),
            ("PO-3", "posting", None)]
    with engine.begin() as conn:
        for key, status, target in rows:
            conn.execute(text(
                "INSERT INTO documents (tenant, integration, doc_type, partner, natural_key, source_ref, raw_payload,"
                " payload_hash, status, target_id, idempotency_key, attempts, flow_run_id, created_at, updated_at)"
                " VALUES (:tenant, 'sps-intacct', 'order', 'WALMART', :key, :ref, :raw, NULL, :status, :target,"
                " :idem, 1, 'old-run', :now, :now)"),
                dict(tenant=tenant, key=key, ref=f"out/{key}.xml", raw=f"<{key}/>".encode(), status=status,
                     target=target, idem=idempotency_key(tenant, "sps-intacct", "order", "WALMART", key), now=now))
        conn.execute(text("INSERT INTO document_events (document_id, tenant, integration, flow_run_id, event, at)"
                          " VALUES (1, :tenant, 'sps-intacct', 'old-run', 'posted', :now)"), dict(tenant=tenant, now=now))
    engine.dispose()
