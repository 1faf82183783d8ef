"""Order to cash after a crash: write-backs a killed run left between intent and outcome are
written by the next run (they used to stay ``posting`` for ever, the orders never commented)."""

from __future__ import annotations

from collections import Counter

from ml_connector.ledger.schema import POSTED, POSTING
from ml_connector.tasks import commerce_o2c_writeback as writeback
from ml_connector.tasks.commerce_o2c import FOLLOWUPS
from tests.flows.test_commerce_o2c_flows import run


class Killed(RuntimeError):
    """Stands for the SIGKILL: after the write-backs' intents, before any outcome."""


def _killed(client, prepared):
    raise Killed()


def _comments(world) -> Counter:
    with world.adobe.lock:
        orders = [dict(o) for o in world.adobe.store.rows("order")]
    return Counter(o["increment_id"] for o in orders for h in o["status_histories"]
                   if "Sage Intacct AR invoice" in (h.get("comment") or ""))


def test_write_backs_a_killed_run_left_in_posting_are_written_by_the_next_run(o2c_world_factory, monkeypatch):
    world = o2c_world_factory(orders=8, seed=5, bad=False)
    write = writeback._write
    monkeypatch.setattr(writeback, "_write", _killed)
    killed, _ = run()
    assert killed.is_failed() and "Killed" in killed.message, killed
    stuck = world.ledger.documents(FOLLOWUPS)
    assert stuck and {r.status for r in stuck} == {POSTING}
    # the next process writes for real; only _write is restored (monkeypatch.undo() would also
    # drop the world's ledger URL and send the next run to the default ledger)
    monkeypatch.setattr(writeback, "_write", write)
    state, _ = run()
    assert state.is_completed(), state
    rows = world.ledger.documents(FOLLOWUPS)
    assert {r.status for r in rows} == {POSTED} and len(rows) == len(stuck)
    comments = _comments(world)
    assert len(comments) == len(rows) and set(comments.values()) == {1}
