"""The one webhook inbox (ml_connector/inbox.py) on a SQLite ledger: stored once per key and per
consumer, taken by one run, finished, released by a failed run, and the events it emits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ml_connector.inbox import ADOBE_EVENT, QBO, QBO_EVENT, adobe, store
from ml_connector.ledger.schema import RECEIVED
from ml_connector.ledger.store import Incoming, Ledger

AP, O2C = adobe("commerce-intacct-ap"), adobe("commerce-intacct-o2c")


def delivery(key: str) -> Incoming:
    return Incoming(doc_type="orders", partner="", natural_key=key, source_ref=f"order:{key}",
                    raw_payload=b'{"kind": "orders", "ids": ["1"]}', status=RECEIVED)


@pytest.fixture()
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    yield ledger
    ledger.dispose()


def test_a_delivery_is_stored_once_per_key_and_per_consumer(ledger):
    first = store(ledger, [AP, O2C], [delivery("e1")])
    assert sorted(first.new_ids) == [AP.consumer, O2C.consumer] and first.count == 2 and first.duplicates == 0
    again = store(ledger, [AP, O2C], [delivery("e1"), delivery("e2")])  # e1 redelivered, e2 new
    assert again.count == 2 and again.duplicates == 2
    assert ledger.status_counts(AP.box) == ledger.status_counts(O2C.box) == {"received": 2}
    assert ledger.status_counts(QBO.box) == {}  # another source's inbox is its own


def test_one_run_takes_a_delivery_and_finishes_it(ledger):
    ids = store(ledger, [AP], [delivery("e1"), delivery("e2")]).new_ids[AP.consumer]
    assert [c.id for c in AP.take(ledger, "delivery", ids[:1])] == ids[:1]  # exactly the handed ones
    assert [c.id for c in AP.take(ledger, "flow-run")] == ids[1:]  # the rest; not the one taken
    assert AP.take(ledger, "late-delivery", ids[:1]) == []
    assert AP.unfinished(ledger, ids) == ids
    AP.finish(ledger, ids, "flow-run")
    assert AP.unfinished(ledger, ids) == [] and ledger.status_counts(AP.box) == {"posted": 2}


def test_release_gives_back_only_what_the_failed_run_still_holds(ledger):
    ids = store(ledger, [QBO], [delivery("e1"), delivery("e2"), delivery("e3")]).new_ids[QBO.consumer]
    QBO.take(ledger, "failed", ids[:2])
    QBO.take(ledger, "other", ids[2:])
    QBO.finish(ledger, ids[1:2], "failed")  # finished before it failed: stays finished
    assert QBO.release(ledger, ids, "failed") == 1
    assert {d.id: d.status for d in ledger.documents(QBO.box)} == {ids[0]: "received", ids[1]: "posted",
                                                                   ids[2]: "posting"}
    assert [c.id for c in QBO.take(ledger, "next")] == ids[:1]


def test_each_inbox_emits_the_event_its_deployment_listens_for(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kw: sent.append(kw))
    QBO.emit("t")
    AP.emit("t", {"entity-kind": "orders"})
    tenant = {"prefect.resource.id": "ml-connector.tenant.t", "ml-connector.tenant": "t"}
    assert sent == [{"event": QBO_EVENT, "resource": tenant},
                    {"event": ADOBE_EVENT, "resource": {**tenant, "ml-connector.entity-kind": "orders",
                                                        "ml-connector.integration": "commerce-intacct-ap"}}]


def test_without_prefect_the_emit_only_warns(monkeypatch, caplog):
    def unreachable(**kw):
        raise ConnectionError("no Prefect API")

    monkeypatch.setattr("prefect.events.emit_event", unreachable)
    QBO.emit("t")
    assert "the scheduled run will pick the change up" in caplog.text


def test_tasks_never_import_the_webhook_service():
    """The tasks act on deliveries through the inbox; the webhook service is only a front door."""
    tasks = Path(__file__).parents[2] / "ml_connector" / "tasks"
    offenders = []
    for path in sorted(tasks.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("..webhooks", "ml_connector.webhooks"))]
    assert offenders == []
