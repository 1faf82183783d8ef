"""The revision rules and the 0002 -> 0003 upgrade on PostgreSQL (row locks instead of SQLite's
database lock, a real IS NOT DISTINCT FROM, server-side defaults). Each test has a database of
its own: other PostgreSQL tests clear the shared one's documents."""

from __future__ import annotations

import uuid

import pytest
from legacy import write_tenant_ledger  # tests/ledger is on sys.path (pytest's prepend import mode)
from revision_scenarios import SCENARIOS, SI, po, post
from sqlalchemy import create_engine, text

from ml_connector.ledger import migrate
from ml_connector.ledger.migrate import HEAD
from ml_connector.ledger.revisions import UPDATE
from ml_connector.ledger.store import Ledger, Outcome, idempotency_key


@pytest.fixture()
def database(postgres_url):
    name = f"rev_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_revision_rule_on_postgres(database, scenario):
    ledger = Ledger(database, tenant="t")
    try:
        scenario(ledger)
    finally:
        ledger.dispose()


def test_a_0002_ledger_upgrades_in_place_on_postgres(database):
    write_tenant_ledger(database)
    assert migrate.upgrade(database) == ("0002", HEAD)
    acme = Ledger(database, tenant="acme")
    rows = {r.natural_key: r for r in acme.documents(SI)}
    assert (rows["PO-0"].revision, rows["PO-0"].applied_revision) == (1, 1)
    assert rows["PO-1"].idempotency_key == idempotency_key("acme", SI, "order", "WALMART", "PO-1")
    [new] = acme.ingest(SI, [po(b"<new/>", key="PO-9")], "r").new_ids
    assert new > 4  # the id sequence goes on after the kept rows
    assert acme.ingest(SI, [po(b"<PO-0 v2/>", UPDATE, key="PO-0")], "r").new_ids == [rows["PO-0"].id]
    acme.dispose()


def test_one_revision_wins_when_workers_read_it_at_once(database):
    import threading

    ledger = Ledger(database, tenant="t")
    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r0").new_ids
    post(ledger, [doc_id])
    results, barrier = [], threading.Barrier(4)

    def worker(n):
        barrier.wait()
        results.append(ledger.ingest(SI, [po(b"<v2/>", UPDATE)], f"w{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.revised for r in results) == 1 and sum(r.duplicates for r in results) == 3
    assert [r.revision for r in ledger.revisions_of(doc_id)] == [1, 2]
    ledger.dispose()


def test_two_new_contents_read_at_once_both_count_and_the_newest_is_applied(database):
    import threading

    ledger = Ledger(database, tenant="t")
    for attempt in range(5):  # each round races two workers with different contents
        key = f"PO-{attempt}"
        [doc_id] = ledger.ingest(SI, [po(b"<v1/>", key=key)], "r0").new_ids
        post(ledger, [doc_id])
        barrier = threading.Barrier(2)
        results = []

        def worker(content, version, key=key, barrier=barrier, results=results):
            barrier.wait()
            results.append(ledger.ingest(SI, [po(content, UPDATE, version, key=key)], f"w{version}"))

        threads = [threading.Thread(target=worker, args=(c, v)) for c, v in ((b"<v2/>", 2), (b"<v3/>", 3))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r.duplicates for r in results) == 0  # neither content is lost as a duplicate
        row = ledger.documents(SI, ids=[doc_id])[0]
        assert (row.revision, row.raw_payload, row.source_version) == (2, b"<v3/>", "3")
        assert ledger.pending_ids(SI) == [doc_id]
        ledger.claim(SI, [doc_id], "r1")
        ledger.record_outcomes(SI, [Outcome(doc_id, "posted", target_id=None)], "r1")
    ledger.dispose()
