"""The task-worker dispatch of QBO notifications (the default): the setting, the hand-over and its
fallback to the trigger, and the ``qbo-webhook-delivery`` task end to end (emulators in-process,
the session's Prefect server)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ml_connector.inbox import QBO
from ml_connector.ledger.store import Ledger
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.tasks.qbo_webhook import named_invoices, qbo_webhook_delivery
from ml_connector.webhooks.app import (
    create_app,
    dispatch_options,
    emit_notification_event,
)
from ml_connector.webhooks.dispatch import Handover, TaskWorkerDispatch, dispatch_mode
from tests.flows.conftest import fresh_ledger, mount  # noqa: F401 - mount is a fixture
from tests.flows.test_sps_qbo_flows import TENANT, make_world

OUT = "qbo-sps"
WEBHOOK = QBO.box  # the ledger integration holding the QBO notifications


@pytest.mark.parametrize(("value", "mode"), [(None, "task-worker"), ("", "task-worker"), ("trigger", "trigger"),
                                             (" Task-Worker ", "task-worker")])
def test_dispatch_mode_comes_from_the_setting(monkeypatch, value, mode):
    if value is None:
        monkeypatch.delenv("ML_CONNECTOR_WEBHOOK_DISPATCH", raising=False)
    else:
        monkeypatch.setenv("ML_CONNECTOR_WEBHOOK_DISPATCH", value)
    assert dispatch_mode() == mode


def test_an_unknown_dispatch_mode_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_WEBHOOK_DISPATCH", "carrier-pigeon")
    with pytest.raises(ValueError, match="must be one of trigger, task-worker, not 'carrier-pigeon'"):
        dispatch_mode()


def test_the_service_options_follow_the_mode(monkeypatch):
    assert dispatch_options("trigger") == {"trigger": emit_notification_event}
    options = dispatch_options("task-worker")
    assert set(options) == {"deliver", "adobe", "dispatch"} and isinstance(options["dispatch"], TaskWorkerDispatch)
    assert callable(options["deliver"]) and callable(options["adobe"]["deliver"])
    options["dispatch"].close()
    monkeypatch.delenv("ML_CONNECTOR_WEBHOOK_DISPATCH", raising=False)
    default = dispatch_options()  # what `webhooks serve` uses unless told otherwise: the task worker
    assert "dispatch" in default and "trigger" not in default
    default["dispatch"].close()


def _handover(ledger, ids, submit, fallback) -> Handover:
    return Handover("t", QBO, tuple(ids), ledger, submit=submit, fallback=fallback)


def _stored(tmp_path) -> tuple[Ledger, list[int]]:
    qbo = QboEmulator()
    qbo.add_invoice(qbo.add_customer("Bob")["Id"], [{"item_id": qbo.add_item("W")["Id"], "qty": 1, "unit_price": 2}])
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    handed: list[tuple] = []
    client = TestClient(create_app("t", verifier_token=qbo.verifier_token, ledger=ledger, realm_id=qbo.realm_id,
                                   deliver=lambda *a: handed.append(a)))
    body, headers = qbo.signed_notification()
    assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == len(qbo.changes())
    (tenant, ids, used), = handed
    assert tenant == "t" and used is ledger
    return ledger, ids


def test_a_failed_hand_over_falls_back_to_the_trigger_at_once(tmp_path):
    ledger, ids = _stored(tmp_path)
    fallen: list[str] = []

    def no_prefect():
        raise ConnectionError("Prefect API unreachable")

    dispatch = TaskWorkerDispatch(grace_seconds=3600)
    try:
        assert dispatch.hand_over(_handover(ledger, ids, no_prefect, lambda: fallen.append("t"))) is False
    finally:
        dispatch.close()
    assert fallen == ["t"]


def test_notifications_the_worker_never_finishes_go_to_the_trigger(tmp_path):
    from ml_connector.ledger.schema import POSTED
    from ml_connector.ledger.store import Outcome

    ledger, ids = _stored(tmp_path)
    fallen: list[str] = []
    handed: list[tuple] = []
    handover = _handover(ledger, ids, lambda: handed.append(("t", ids)), lambda: fallen.append("t"))
    dispatch = TaskWorkerDispatch(grace_seconds=3600)
    try:
        assert dispatch.hand_over(handover) is True
        assert handed == [("t", ids)] and fallen == []
        assert dispatch.check(handover) is True  # no worker took them: still received
        assert fallen == ["t"]
        ledger.claim(WEBHOOK, ids, "worker-run")
        ledger.record_outcomes(WEBHOOK, [Outcome(i, POSTED, target_id="ingested") for i in ids], "worker-run")
        assert dispatch.check(handover) is False  # finished: nothing to do
        assert fallen == ["t"]
    finally:
        dispatch.close()


def test_the_watchdog_fires_after_the_grace_period(tmp_path):
    from tests.waiting import wait_for

    ledger, ids = _stored(tmp_path)
    fallen: list[str] = []
    dispatch = TaskWorkerDispatch(grace_seconds=0.2)
    try:
        dispatch(_handover(ledger, ids, lambda: None, lambda: fallen.append("t")))  # nobody delivers them
        wait_for(lambda: fallen, "the watchdog's fallback", timeout=30, interval=0.1)
    finally:
        dispatch.close()
    assert fallen == ["t"]


def test_the_hand_over_runs_off_the_request_in_arrival_order(tmp_path):
    from ml_connector.webhooks.app import qbo_handover

    ledger, ids = _stored(tmp_path)
    handed: list[tuple] = []
    dispatch = TaskWorkerDispatch(grace_seconds=3600)
    dispatch(_handover(ledger, ids, lambda: handed.append(("t", ids)), lambda: None))
    dispatch(_handover(ledger, ids[:1], lambda: handed.append(("t", ids[:1])), lambda: None))
    dispatch.close()  # waits for the hand-overs in progress, cancels the watchdogs
    assert handed == [("t", ids), ("t", ids[:1])]
    # the QBO route's hand-over: the delivery task, with the QBO event as its fallback
    seen: list[Handover] = []
    qbo_handover(seen.append)("t", ids, ledger)
    [h] = seen
    assert (h.tenant, h.inbox, h.note_ids, h.ledger) == ("t", QBO, tuple(ids), ledger)
    assert h.fallback.func is emit_notification_event and h.fallback.args == ("t",)


def test_the_replayed_delivery_hands_nothing_over(tmp_path):
    qbo = QboEmulator()
    qbo.add_vendor("Acme")
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    handed: list[tuple] = []
    client = TestClient(create_app("t", verifier_token=qbo.verifier_token, ledger=ledger,
                                   deliver=lambda *a: handed.append(a), trigger=lambda t: handed.append(("trigger",))))
    body, headers = qbo.signed_notification()
    client.post("/webhooks/qbo", content=body, headers=headers)
    client.post("/webhooks/qbo", content=body, headers=headers)  # Intuit redelivers
    assert len(handed) == 1 and handed[0][0] == "t"  # one hand-over, and not the trigger as well


# -- the delivery task, end to end ---------------------------------------------------------

@pytest.fixture()
def qworld(tmp_path, monkeypatch, prefect_server, mount):  # noqa: F811 - mount is the imported fixture
    fresh_ledger(tmp_path, monkeypatch)
    return make_world(mount)


def _notify(qworld, invoice: dict) -> list[int]:
    handed: list[tuple] = []
    body, headers = qworld.qbo.signed_notification([c for c in qworld.qbo.changes() if c.id == invoice["Id"]])
    with TestClient(create_app(TENANT, deliver=lambda *a: handed.append(a))) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == 1
    return handed[0][1]


def test_the_delivery_sends_the_notified_invoice_once_and_the_flow_finds_nothing_left(qworld):
    from ml_connector.flows.qbo_to_sps import qbo_to_sps

    ids = _notify(qworld, qworld.invoice("INV-W1"))
    qworld.invoice("INV-W2")  # changed in QBO, but no notification: not this delivery's business
    counts = qbo_webhook_delivery(TENANT, ids)
    assert counts["notifications"] == 1 and counts["invoices_read"] == 1 and counts["posted"] == 1
    assert sorted(qworld.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-W1.xml"]
    assert qworld.ledger.status_counts("qbo-webhook") == {"posted": 1}
    assert qworld.ledger.status_counts(OUT) == {"posted": 1}
    again = qbo_webhook_delivery(TENANT, ids)  # a redelivered task: the notification is taken already
    assert again["notifications"] == 0 and len(qworld.sps.inbox()) == 1
    # the flow (trigger or hourly CDC) sends what no notification named, and INV-W1 only once
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.is_completed() and state.result()["posted"] == 1
    assert sorted(qworld.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-W1.xml", "in/IN_ACMEDIST0001_INV-W2.xml"]


def test_a_failed_delivery_hands_over_to_the_flow_which_sends_it(qworld, monkeypatch):
    from ml_connector.flows.qbo_to_sps import qbo_to_sps
    from ml_connector.tasks.qbo import read_invoices

    ids = _notify(qworld, qworld.invoice("INV-W3"))
    signalled: list[dict] = []

    def qbo_down(*args, **kwargs):
        raise RuntimeError("QBO is down")

    with monkeypatch.context() as patch:
        patch.setattr("prefect.events.emit_event", lambda **kw: signalled.append(kw))
        patch.setattr(read_invoices, "fn", qbo_down)
        with pytest.raises(RuntimeError, match="QBO is down"):
            qbo_webhook_delivery(TENANT, ids)
    # the qbo-to-sps deployment's event, for this tenant
    assert [(e["event"], e["resource"]["ml-connector.tenant"]) for e in signalled] == [
        ("ml-connector.qbo.notification", TENANT)]
    assert qworld.sps.inbox() == {}
    # the failed delivery gave its claim back before it signalled: any run can take it at once
    assert qworld.ledger.status_counts("qbo-webhook") == {"received": 1}
    # what the trigger starts: the flow takes the notification and sends its invoice
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.is_completed() and sorted(qworld.sps.inbox()) == ["in/IN_ACMEDIST0001_INV-W3.xml"]
    assert qworld.ledger.status_counts("qbo-webhook") == {"posted": 1}


def test_named_invoices_reads_voids_and_skips_deletes_and_other_entities():
    from ml_connector.ledger.store import Claimed

    def claimed(payload: bytes) -> Claimed:
        return Claimed(id=1, doc_type="notification", partner="r", natural_key="e", source_ref="",
                       raw_payload=payload, idempotency_key="k", target_ref=None, attempts=1)

    rows = [claimed(b'{"entity": "Invoice", "id": "7", "operation": "Update"}'),
            claimed(b'{"entity": "Invoice", "id": "7", "operation": "Create"}'),
            claimed(b'{"entity": "Invoice", "id": "8", "operation": "Delete"}'),
            claimed(b'{"entity": "Invoice", "id": "9", "operation": "Void"}'),
            claimed(b'{"entity": "Customer", "id": "3", "operation": "Create"}')]
    # a void is read back to be sent as a cancellation; a delete cannot be read (its stub comes
    # from mappings/qbo_to_sps.deleted_invoices)
    assert named_invoices(rows) == ["7", "9"]
