"""Delivery to SPS is honest: SPS takes every file we upload to in/ and passes it on to the
retailer, so no upload is sent a second time on a guess. The emulator picks files up and logs
each delivery; these tests count what a retailer would have received (docs/sps-delivery.md)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ml_connector.connectors.sps import delivery
from ml_connector.connectors.sps.client import SpsClient
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.ledger.schema import POSTED, POSTING, RECEIVED
from ml_connector.ledger.store import Ledger
from ml_connector.sandbox.base import FaultPlan
from ml_connector.tasks.sps import outbox_path
from tests.flows.test_sps_qbo_flows import TENANT, qworld_factory  # noqa: F401 - a fixture

OUT, QBO_OUT = "intacct-sps", "qbo-sps"


class LoseWrites(FaultPlan):
    """The first ``n`` uploads commit and lose their answer."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def lose_response(self) -> bool:
        if self.left > 0:
            self.left -= 1
            self.counts["lost_write"] = self.counts.get("lost_write", 0) + 1
            return True
        return False


def run(**params):
    state = intacct_to_sps(tenant="demo", return_state=True, **params)
    return state, (state.result() if state.is_completed() else None)


def expected_paths(world) -> set[str]:
    fmt = world.mapping.outbound.invoice_format
    return {outbox_path("invoice", partner, number, fmt) for partner, number in world.seeded.expected_invoices}


def delivered(world) -> Counter:
    return Counter(d.path for d in world.sps.deliveries())


def assert_each_delivered_once(world) -> None:
    assert world.sps.delivered_twice() == {}
    assert delivered(world) == Counter(expected_paths(world))


def later(monkeypatch, seconds: float) -> None:
    """From now on the upload step's clock reads ``seconds`` later: SPS's history has caught up."""
    real = delivery.utcnow
    monkeypatch.setattr(delivery, "utcnow", lambda: real() + timedelta(seconds=seconds))


def test_a_lost_upload_answer_with_the_pickup_in_between_is_one_delivery(world_factory):
    world = world_factory(sps_faults=LoseWrites(3))
    world.sps.pickup_after = 0  # SPS takes each file before anyone asks again
    world.add_ar_invoices(12)
    state, counts = run()
    assert state.is_completed()
    assert world.sps.faults.counts["lost_write"] == 3
    assert_each_delivered_once(world)
    assert counts["posted"] == len(expected_paths(world)) and counts["possibly_delivered_twice"] == 0
    assert world.ledger.status_counts(OUT).get(POSTED) == len(expected_paths(world))


def crash_at_the_first_outcome(monkeypatch) -> None:
    original = Ledger.record_outcomes
    calls = {"n": 0}

    def crash_once(self, integration, outcomes, run_id):
        if integration == OUT and outcomes:
            calls["n"] += 1
            if calls["n"] == 1:
                raise SystemExit("worker killed after the uploads, before their outcomes")
        return original(self, integration, outcomes, run_id)

    monkeypatch.setattr(Ledger, "record_outcomes", crash_once)


def test_a_run_killed_after_its_uploads_reached_sps_and_were_taken_is_not_uploaded_again(world, monkeypatch):
    world.sps.pickup_after = 0
    world.add_ar_invoices(10)
    crash_at_the_first_outcome(monkeypatch)
    with pytest.raises(SystemExit, match="worker killed"):
        intacct_to_sps(tenant="demo")
    sent = len(expected_paths(world))
    assert world.ledger.status_counts(OUT).get(POSTING) == sent
    assert world.sps.inbox() == {} and len(world.sps.deliveries()) == sent  # all passed on already
    state, counts = run()
    assert state.is_completed()
    assert_each_delivered_once(world)
    assert len(world.sps.history()) == sent  # not one upload more
    assert counts["recovered_requeued"] == sent and counts["delivery_confirmed"] == sent
    assert counts["posted"] == sent and counts["delivery_unknown"] == 0


def test_a_run_killed_before_its_uploads_reached_sps_waits_for_the_history_then_uploads_once(world, monkeypatch):
    world.sps.pickup_after = 0
    world.add_ar_invoices(10)
    killed = {"on": True}
    real_put = SpsClient.put

    def dies(self, path, content):
        if killed["on"]:
            raise SystemExit("worker killed before the upload left it")
        return real_put(self, path, content)

    monkeypatch.setattr(SpsClient, "put", dies)
    with pytest.raises(SystemExit, match="worker killed"):
        intacct_to_sps(tenant="demo")
    killed["on"] = False
    sent = len(expected_paths(world))
    assert world.ledger.status_counts(OUT).get(POSTING) == sent and world.sps.history() == []
    # At once, nothing can tell whether the dead run's uploads arrived and were taken: wait.
    state, counts = run()
    assert state.is_completed() and world.sps.history() == []  # nothing uploaded on a guess
    assert counts["recovered_requeued"] == sent and counts["delivery_unknown"] == sent and counts["posted"] == 0
    rows = world.ledger.documents(OUT, status=RECEIVED)
    assert len(rows) == sent and all(r.error_class == "delivery_unknown" for r in rows)
    assert all(r.last_error.startswith("delivery unknown until SPS history catches up") for r in rows)
    # Once the history covers the window and shows none of them, they never arrived: sent once.
    later(monkeypatch, delivery.history_lag() + 60)
    state, counts = run()
    assert state.is_completed() and counts["posted"] == sent and counts["delivery_unknown"] == 0
    assert_each_delivered_once(world)


def test_when_the_history_cannot_be_read_waiting_is_impossible_and_the_report_says_possibly_twice(world,
                                                                                                  monkeypatch):
    world.add_ar_invoices(6)
    killed = {"on": True}
    real_put = SpsClient.put

    def dies(self, path, content):
        if killed["on"]:
            raise SystemExit("worker killed before the upload left it")
        return real_put(self, path, content)

    monkeypatch.setattr(SpsClient, "put", dies)
    with pytest.raises(SystemExit, match="worker killed"):
        intacct_to_sps(tenant="demo")
    killed["on"] = False
    inner = world.sps.dispatch

    def no_history(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/transactions/v5/history":
            return httpx.Response(403, json={"title": "Forbidden", "status": 403, "detail": "not for this account"},
                                  headers={"Content-Type": "application/problem+json"})
        return inner(request)

    world.sps.dispatch = no_history
    sent = len(expected_paths(world))
    state, counts = run()
    assert state.is_completed()
    assert counts["posted"] == sent and counts["possibly_delivered_twice"] == sent
    assert {p for p in world.sps.inbox()} == expected_paths(world)


def test_heavy_faults_deliver_every_document_exactly_once(world_factory, monkeypatch):
    # The sandbox's history trails nothing; allow it a second, so a run waits for the next one.
    monkeypatch.setenv("ML_CONNECTOR_SPS_HISTORY_LAG", "1")
    world = world_factory(sps_faults=FaultPlan.profile("heavy", seed=23))
    world.sps.pickup_after = 0.05
    world.add_ar_invoices(200)
    reports = []
    for _ in range(8):  # the schedule's next runs
        state, counts = run()
        reports.append(counts)
        pending = world.ledger.status_counts(OUT)
        if state.is_completed() and not pending.get(RECEIVED) and not pending.get(POSTING):
            break
        time.sleep(1.2)
    faults = world.sps.faults.counts
    assert faults.get("lost_write", 0) > 0 and faults.get("5xx", 0) > 0 and faults.get("timeout", 0) > 0
    assert world.ledger.status_counts(OUT).get(POSTED) == len(expected_paths(world))
    time.sleep(0.1)  # the last pickups
    assert_each_delivered_once(world)
    done = [r for r in reports if r]
    assert sum(r["possibly_delivered_twice"] for r in done) == 0


# -- qbo-sps: the flow's recovery and the webhook fast path -----------------------------------


def test_qbo_sps_intents_a_killed_run_left_are_looked_for_in_sps_before_any_upload(qworld_factory,  # noqa: F811
                                                                                    monkeypatch):
    from ml_connector.demo.parts.sps_qbo import seed_qbo_invoices
    from ml_connector.engine import Page, Run
    from ml_connector.engine.pages import record_page
    from ml_connector.flows.qbo_to_sps import qbo_to_sps
    from ml_connector.pipelines.qbo_sps import PIPELINE
    from ml_connector.runtime.tenant import tenant
    from ml_connector.tasks.qbo import build_invoice, read_changed_invoices
    from ml_connector.tasks.qbo_master import effective_mapping

    w = qworld_factory()
    w.sps.pickup_after = 0
    seed_qbo_invoices(w.qbo, w.mapping, 6, 3, w.unmapped_customer)
    ledger = w.ledger
    invoices = read_changed_invoices.fn(TENANT, datetime.now(UTC) - timedelta(days=1))
    record_page.fn(PIPELINE, Run(TENANT, QBO_OUT, "dead-run"), Page(invoices))
    claimed = ledger.claim(QBO_OUT, ledger.pending_ids(QBO_OUT), "dead-run")
    # What the dead run did before it died: half of its uploads reached SPS, which took them.
    mapping, sps = effective_mapping(tenant(TENANT)), tenant(TENANT).sps()
    reached = claimed[::2]
    for c in reached:
        sps.put(*build_invoice(c, mapping))
    assert len(w.sps.deliveries()) == len(reached)
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    counts = state.result()
    assert Counter(d.path for d in w.sps.deliveries()) == Counter(c.target_ref for c in reached)
    assert counts["recovered_requeued"] == len(claimed) and counts["delivery_confirmed"] == len(reached)
    assert counts["delivery_unknown"] == len(claimed) - len(reached)
    later(monkeypatch, delivery.history_lag() + 60)
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.result()["posted"] == len(claimed) - len(reached)
    assert w.sps.delivered_twice() == {}
    assert Counter(d.path for d in w.sps.deliveries()) == Counter(c.target_ref for c in claimed)
    assert ledger.status_counts(QBO_OUT) == {POSTED: len(claimed)}


def test_the_webhook_fast_path_sends_once_despite_a_lost_answer_and_the_pickup(qworld_factory):  # noqa: F811
    from starlette.testclient import TestClient

    from ml_connector.tasks.qbo_webhook import qbo_webhook_delivery
    from ml_connector.webhooks.app import create_app

    w = qworld_factory()
    w.sps.faults, w.sps.pickup_after = LoseWrites(1), 0
    invoice = w.invoice("INV-W9")
    handed: list[tuple] = []
    body, headers = w.qbo.signed_notification([c for c in w.qbo.changes() if c.id == invoice["Id"]])
    with TestClient(create_app(TENANT, deliver=lambda *a: handed.append(a))) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    counts = qbo_webhook_delivery(TENANT, handed[0][1])
    assert w.sps.faults.counts["lost_write"] == 1
    assert [d.path for d in w.sps.deliveries()] == ["in/IN_ACMEDIST0001_INV-W9.xml"]
    assert counts["posted"] == 1 and counts["possibly_delivered_twice"] == 0
