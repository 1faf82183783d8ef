"""The QBO webhook service: signatures, both payload shapes, replays, and a fast answer."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from ml_connector.inbox import QBO
from ml_connector.ledger.store import Ledger
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.webhooks.app import create_app

WEBHOOK = QBO.box  # the ledger integration holding the QBO notifications


@pytest.fixture()
def setup(tmp_path):
    qbo = QboEmulator()
    vendor = qbo.add_vendor("Acme")
    qbo.add_invoice(qbo.add_customer("Bob")["Id"], [{"item_id": qbo.add_item("W")["Id"], "qty": 1, "unit_price": 2}])
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    started: list[str] = []
    app = create_app("t", verifier_token=qbo.verifier_token, ledger=ledger, realm_id=qbo.realm_id,
                     trigger=started.append)
    yield qbo, ledger, TestClient(app), started, vendor


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_valid_signature_is_stored_once_and_a_replay_is_a_duplicate(setup, fmt, monkeypatch):
    qbo, ledger, client, started, _ = setup
    body, headers = qbo.signed_notification(fmt=fmt)
    t0 = time.monotonic()
    first = client.post("/webhooks/qbo", content=body, headers=headers)
    assert first.status_code == 200
    assert first.json()["stored"] == len(qbo.changes())
    replay = client.post("/webhooks/qbo", content=body, headers=headers)  # Intuit redelivers
    assert replay.status_code == 200 and replay.json()["stored"] == 0 and replay.json()["duplicates"] == len(qbo.changes())
    assert ledger.status_counts(WEBHOOK) == {"received": len(qbo.changes())}
    assert time.monotonic() - t0 < 3
    assert started == ["t"]  # one run started, not one per delivery


def test_fast_answer_does_not_wait_for_the_run(tmp_path):
    qbo = QboEmulator()
    qbo.add_vendor("Acme")
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    calls = []
    # The default trigger starts the deployment in a background thread; with no Prefect
    # deployment reachable it only logs. Answer time must not depend on it.
    app = create_app("t", verifier_token=qbo.verifier_token, ledger=ledger,
                     trigger=lambda t: calls.append(t))
    body, headers = qbo.signed_notification()
    with TestClient(app) as client:
        t0 = time.monotonic()
        assert client.post("/webhooks/qbo", content=body, headers=headers).status_code == 200
        assert time.monotonic() - t0 < 3
    assert calls == ["t"]


def test_the_trigger_is_the_event_the_deployment_listens_for(monkeypatch):
    import ml_connector.webhooks.app as app_module

    sent = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kw: sent.append(kw))
    app_module.emit_notification_event("t")
    assert sent == [{"event": "ml-connector.qbo.notification",
                     "resource": {"prefect.resource.id": "ml-connector.tenant.t", "ml-connector.tenant": "t"}}]


@pytest.mark.parametrize("header", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", "***not base64***"])
def test_missing_or_invalid_signature_is_refused_and_nothing_stored(tmp_path, header):
    qbo = QboEmulator()
    qbo.add_vendor("Acme")
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    calls = []
    client = TestClient(create_app("t", verifier_token=qbo.verifier_token, ledger=ledger, trigger=calls.append))
    body, _ = qbo.signed_notification()
    headers = {} if header is None else {"intuit-signature": header}
    assert client.post("/webhooks/qbo", content=body, headers=headers).status_code == 401
    assert ledger.status_counts(WEBHOOK) == {} and calls == []


def test_a_replayed_signature_on_another_body_is_refused(tmp_path):
    qbo = QboEmulator()
    qbo.add_vendor("Acme")
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    client = TestClient(create_app("t", verifier_token=qbo.verifier_token, ledger=ledger, trigger=None))
    body, headers = qbo.signed_notification()
    tampered = body.replace(b'"Create"', b'"Delete"')
    assert tampered != body
    assert client.post("/webhooks/qbo", content=tampered, headers=headers).status_code == 401
    assert ledger.status_counts(WEBHOOK) == {}


def test_signed_garbage_is_a_400(tmp_path):
    from ml_connector.connectors.qbo.webhooks import sign

    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    client = TestClient(create_app("t", verifier_token="v", ledger=ledger, trigger=None))
    body = b'{"not": "a notification"}'
    assert client.post("/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, "v")}).status_code == 400


def test_with_task_worker_dispatch_the_new_notifications_are_handed_over_instead_of_the_trigger(tmp_path):
    qbo = QboEmulator()
    qbo.add_vendor("Acme")
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    handed, triggered = [], []
    client = TestClient(create_app("t", verifier_token=qbo.verifier_token, ledger=ledger, trigger=triggered.append,
                                   deliver=lambda tenant, ids, used: handed.append((tenant, ids, used))))
    body, headers = qbo.signed_notification()
    answer = client.post("/webhooks/qbo", content=body, headers=headers).json()
    assert answer == {"events": len(qbo.changes()), "stored": len(qbo.changes()), "duplicates": 0, "other_realm": 0}
    stored = [d.id for d in ledger.documents(WEBHOOK)]
    assert handed == [("t", stored, ledger)] and triggered == []
