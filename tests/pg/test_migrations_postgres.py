"""The tenant migration on PostgreSQL: a ledger from before tenants, upgraded in place, keeps
every row and its sequences, and takes the new keys."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ml_connector.ledger import migrate
from ml_connector.ledger.migrate import HEAD, LedgerSchemaError
from ml_connector.ledger.store import Incoming, Ledger
from ml_connector.ledger.x12_controls import next_control_numbers

sys.path.insert(0, str(Path(__file__).parents[1] / "ledger"))
from legacy import write_legacy_ledger

SI = "sps-intacct"


@pytest.fixture()
def fresh_database(postgres_url):
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_a_pre_tenant_ledger_upgrades_in_place_on_postgres(fresh_database):
    url = fresh_database
    write_legacy_ledger(url, documents=4)
    with pytest.raises(LedgerSchemaError, match="ledger upgrade --tenant"):
        Ledger(url, tenant="acme")
    with pytest.raises(LedgerSchemaError, match="--tenant"):
        migrate.upgrade(url)
    assert migrate.upgrade(url, tenant="acme") == ("unversioned", HEAD)
    acme = Ledger(url, tenant="acme")
    assert [r.natural_key for r in acme.documents(SI)] == [f"PO-{n}" for n in range(4)]
    assert acme.get_cursor(SI) == "c-41" and next_control_numbers(acme, "WALMART", 1) == [42]
    # the id sequence goes on after the kept rows, and a second tenant may reuse every key
    beta = acme.for_tenant("beta")
    new = beta.ingest(SI, [Incoming("order", "WALMART", "PO-1", "x", b"<Order/>")], "r").new_ids
    assert new and new[0] > 4
    beta.set_cursor(SI, "beta")
    assert acme.get_cursor(SI) == "c-41" and next_control_numbers(beta, "WALMART", 1) == [1]
    acme.dispose()


def test_two_processes_opening_a_new_ledger_at_once_both_get_it(fresh_database):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(fresh_database,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert migrate.revision(create_engine(fresh_database)) == HEAD


def _open(url: str) -> None:
    Ledger(url, tenant="acme").dispose()
