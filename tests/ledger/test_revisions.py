"""Revisions in the ledger on SQLite: a document's revisions by content, each applied once with
its own idempotency key, out-of-order arrivals recorded and never applied, resends audited
(the scenarios are in revision_scenarios.py, shared with the PostgreSQL run)."""

from __future__ import annotations

import hashlib

import pytest
from legacy import write_tenant_ledger  # tests/ledger is on sys.path (pytest's prepend import mode)
from revision_scenarios import SCENARIOS, SI, po, post
from sqlalchemy import create_engine

from ml_connector.ledger import migrate
from ml_connector.ledger.migrate import HEAD, LedgerSchemaError
from ml_connector.ledger.revisions import APPLIED, CREATE, UPDATE, older
from ml_connector.ledger.schema import FAILED, POSTED, POSTING, RECEIVED
from ml_connector.ledger.store import Ledger, Outcome, idempotency_key


@pytest.fixture()
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="t")
    yield led
    led.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_revision_rule(ledger, scenario):
    scenario(ledger)


def test_revision_one_keeps_the_key_of_before_and_each_revision_has_its_own():
    digest = hashlib.sha256(b"t|sps-intacct|order|WALMART|PO-1").hexdigest()[:32]
    assert idempotency_key("t", SI, "order", "WALMART", "PO-1") == f"mlc-{digest}"
    assert idempotency_key("t", SI, "order", "WALMART", "PO-1", 2) == f"mlc-{digest}-r2"
    assert idempotency_key("t", SI, "order", "WALMART", "PO-1", 0, revision=1) == f"mlc-{digest}"
    keys = {idempotency_key("t", SI, "order", "WALMART", "PO-1", g, r) for g in (0, 1, 2) for r in (1, 2, 3)}
    assert len(keys) == 9
    # the same length for every revision: the targets bound their key fields
    assert {len(idempotency_key("t", SI, "order", "WALMART", "PO-1", 0, r)) for r in (1, 2, 99)} == {36}


def test_source_versions_order_as_numbers_else_as_text():
    assert older("9", "10") and not older("10", "9")
    assert older("2026-02-28T23:00:00Z", "2026-03-01T00:00:00Z")
    assert not older(None, "1") and not older("1", None) and not older("3", "3")


def test_a_ledger_at_schema_0002_is_refused_until_upgraded_then_keeps_its_rows_and_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    write_tenant_ledger(url)
    with pytest.raises(LedgerSchemaError) as refused:
        Ledger(url, tenant="acme")
    assert "\n" not in str(refused.value) and "ml-connector ledger upgrade" in str(refused.value)
    assert migrate.upgrade(url) == ("0002", HEAD)  # the rows have their tenant: none to name
    acme = Ledger(url, tenant="acme")
    rows = {r.natural_key: r for r in acme.documents(SI)}
    assert {k: r.status for k, r in rows.items()} == {"PO-0": POSTED, "PO-1": RECEIVED, "PO-2": FAILED,
                                                      "PO-3": POSTING}
    assert {k: (r.revision, r.applied_revision) for k, r in rows.items()} == {
        "PO-0": (1, 1), "PO-1": (1, None), "PO-2": (1, None), "PO-3": (1, None)}
    for key, row in rows.items():  # revision 1 of every kept document keeps the key it had
        assert row.idempotency_key == idempotency_key("acme", SI, "order", "WALMART", key)
    assert acme.run_counts(SI, "old-run")["posted"] == 1
    # the write in flight at the upgrade is recovered as revision 1, under its old key
    [inflight] = acme.stale_intents(SI, run_ids=["old-run"], claimer="after")
    assert (inflight.natural_key, inflight.revision, inflight.idempotency_key) == (
        "PO-3", 1, rows["PO-3"].idempotency_key)
    # a changed PO-0 is revision 2 of a document the target holds, its first recorded history
    assert acme.ingest(SI, [po(b"<PO-0 changed/>", UPDATE, key="PO-0")], "new").new_ids == [rows["PO-0"].id]
    [claimed] = acme.claim(SI, [rows["PO-0"].id], "new")
    assert (claimed.revision, claimed.effect, claimed.target_id) == (2, UPDATE, "BILL-0")
    assert claimed.idempotency_key == idempotency_key("acme", SI, "order", "WALMART", "PO-0", 0, 2)
    history = acme.revisions_of(rows["PO-0"].id)
    assert [(h.revision, h.state, h.raw_payload) for h in history] == [(1, APPLIED, b"<PO-0/>"),
                                                                       (2, "pending", b"<PO-0 changed/>")]
    # the unposted PO-1 changed: still its one write, a create
    acme.ingest(SI, [po(b"<PO-1 changed/>", UPDATE, key="PO-1")], "new")
    [c1] = acme.claim(SI, [rows["PO-1"].id], "new")
    assert (c1.revision, c1.effect, c1.idempotency_key) == (1, CREATE, rows["PO-1"].idempotency_key)
    acme.record_outcomes(SI, [Outcome(c1.id, POSTED, target_id="BILL-1")], "new")
    assert migrate.revision(create_engine(url)) == HEAD and migrate.upgrade(url) == (HEAD, HEAD)
    acme.dispose()


def test_a_new_revision_is_posted_once_under_concurrent_ingests(ledger):
    import threading

    [doc_id] = ledger.ingest(SI, [po(b"<v1/>")], "r0").new_ids
    post(ledger, [doc_id])
    results = []

    def worker(n):
        other = ledger.for_tenant("t")
        results.append(other.ingest(SI, [po(b"<v2/>", UPDATE)], f"w{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.revised for r in results) == 1 and sum(r.duplicates for r in results) == 3
    assert ledger.documents(SI)[0].revision == 2
