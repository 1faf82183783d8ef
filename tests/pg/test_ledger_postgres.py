"""The ledger on PostgreSQL with several worker processes: claims never overlap, so two
workers never post the same document, and control of a document moves exactly once."""

from __future__ import annotations

import multiprocessing as mp
import uuid

from sqlalchemy import text

from ml_connector.ledger.schema import POSTED
from ml_connector.ledger.store import Incoming, Ledger, Outcome

SI = "sps-intacct"


def _worker(url: str, name: str, ids: list[int], out) -> None:
    ledger = Ledger(url, tenant="t", create=False)
    mine = []
    for start in range(0, len(ids), 50):  # claim in pages, as post tasks do, racing the others
        claimed = ledger.claim(SI, ids[start:start + 50], name)
        ledger.record_outcomes(SI, [Outcome(c.id, POSTED, target_id=f"{name}-{c.id}") for c in claimed], name)
        mine += [c.id for c in claimed]
    out.put((name, mine))
    ledger.dispose()


def test_concurrent_workers_claim_each_document_exactly_once(postgres_url):
    ledger = Ledger(postgres_url, tenant="t")
    with ledger.engine.begin() as conn:  # a clean slate in the shared database
        conn.execute(text("DELETE FROM document_events"))
        conn.execute(text("DELETE FROM document_revisions"))
        conn.execute(text("DELETE FROM documents"))
    run = uuid.uuid4().hex
    ids = ledger.ingest(SI, [Incoming("invoice", "P", f"INV-{n}", "x", b"x") for n in range(2000)], run).new_ids
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    # every worker walks the ids in a different order, so they collide all the time
    orders = [ids, ids[::-1], ids[1::2] + ids[::2], ids[::2] + ids[1::2]]
    procs = [ctx.Process(target=_worker, args=(postgres_url, f"w{n}", order, out)) for n, order in enumerate(orders)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    claimed = [i for part in results.values() for i in part]
    assert sorted(claimed) == sorted(ids)  # all of them, none twice
    assert sum(1 for part in results.values() if part) >= 2  # the race really happened
    assert ledger.status_counts(SI) == {POSTED: 2000}
    posted_events = (ledger.run_counts(SI, "w0")["posted"]
                     + sum(ledger.run_counts(SI, f"w{n}")["posted"] for n in range(1, 4)))
    assert posted_events == 2000
    ledger.dispose()


def test_ingest_of_the_same_page_by_two_workers_keeps_one_row_per_key(postgres_url):
    ledger = Ledger(postgres_url, tenant="t")
    page = [Incoming("order", "P2", f"PO-{n}", "x", b"x") for n in range(300)]
    first = ledger.ingest(SI, page, "a")
    second = ledger.ingest(SI, page, "b")
    assert len(first.new_ids) == 300 and second.new_ids == [] and second.duplicates == 300
    ledger.dispose()


def _ingester(url: str, name: str, out) -> None:
    ledger = Ledger(url, tenant="t", create=False)
    page = [Incoming("shipment", "P3", f"ASN-{n}", "x", b"x") for n in range(500)]
    got = ledger.ingest(SI, page, name)
    out.put((name, got.new_ids, got.duplicates))
    ledger.dispose()


def test_two_workers_ingesting_the_same_page_at_once_neither_fails(postgres_url):
    Ledger(postgres_url, tenant="t").dispose()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_ingester, args=(postgres_url, f"i{n}", out)) for n in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    new = [i for _, ids, _ in results for i in ids]
    assert len(new) == len(set(new)) == 500  # each document is new for exactly one worker
    assert sum(d for _, _, d in results) == 1000  # and a duplicate for the two others
