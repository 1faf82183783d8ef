"""The Adobe Commerce route of the webhook service: RSA signatures (HMAC only when configured),
one stored copy per consumer, replays, fast answers in Commerce's reply shape, the Prefect event."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from ml_connector.connectors.adobe import WebhookVerifier
from ml_connector.inbox import ADOBE_EVENT as EVENT
from ml_connector.inbox import adobe
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.commerce_ap_documents import named_entities
from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.adobe.seed import seed_adobe
from ml_connector.webhooks.adobe import HMAC_HEADER, emit_adobe_event
from ml_connector.webhooks.app import create_app

CONSUMERS = ("commerce-intacct-ap", "commerce-intacct-o2c")


def inbox(consumer: str) -> str:
    """The ledger integration holding a consumer's notifications."""
    return adobe(consumer).box


def take_notifications(ledger, consumer: str, run_id: str, **options) -> tuple[list[int], dict[str, list[str]]]:
    """What a consumer's run takes from the inbox: the ledger ids and the entity ids named by kind."""
    claimed = adobe(consumer).take(ledger, run_id, **options)
    return [c.id for c in claimed], named_entities(claimed)


def finish_notifications(ledger, consumer: str, ids: list[int], run_id: str) -> None:
    adobe(consumer).finish(ledger, ids, run_id)


@pytest.fixture(scope="module")
def commerce():
    emulator = AdobeEmulator()
    with emulator.lock:
        seed_adobe(emulator.store, orders=3, bad=False)
    return emulator


@pytest.fixture()
def service(tmp_path, commerce):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    started: list = []
    options = {"verifier": WebhookVerifier(commerce.credentials()["webhook_public_key"]), "consumers": CONSUMERS,
               "trigger": lambda tenant, kind: started.append((tenant, kind))}
    client = TestClient(create_app("t", verifier_token="qbo-token", ledger=ledger, trigger=None, adobe=options))
    return client, ledger, started


def test_a_signed_delivery_is_stored_once_per_consumer_and_a_replay_is_a_duplicate(service, commerce):
    client, ledger, started = service
    body, headers = commerce.webhook_delivery("order", 1)
    t0 = time.monotonic()
    first = client.post("/webhooks/adobe", content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"op": "success"}  # Commerce's reply shape, nothing else
    assert first.headers["x-ml-connector-stored"] == "2"
    again = client.post("/webhooks/adobe", content=body, headers=headers)  # Commerce retries the same call
    assert again.status_code == 200 and again.headers["x-ml-connector-stored"] == "0"
    assert again.headers["x-ml-connector-duplicates"] == "2"
    assert time.monotonic() - t0 < 3
    for consumer in CONSUMERS:
        assert ledger.status_counts(inbox(consumer)) == {"received": 1}
    assert started == [("t", "orders")]  # one signal, not one per delivery


@pytest.mark.parametrize("header", [None, "", "bm90IGEgc2lnbmF0dXJl", "***not base64***"])
def test_missing_or_invalid_signatures_are_refused_and_nothing_is_stored(service, commerce, header):
    client, ledger, started = service
    body, _ = commerce.webhook_delivery("order", 2)
    headers = {} if header is None else {"x-adobe-commerce-webhook-signature": header}
    assert client.post("/webhooks/adobe", content=body, headers=headers).status_code == 401
    assert all(ledger.status_counts(inbox(c)) == {} for c in CONSUMERS) and started == []


def test_a_real_signature_of_another_body_is_refused(service, commerce):
    client, ledger, _ = service
    body, _ = commerce.webhook_delivery("order", 1)
    _, other = commerce.webhook_delivery("order", 2)
    assert client.post("/webhooks/adobe", content=body, headers=other).status_code == 401
    tampered = body.replace(b'"increment_id"', b'"increment_iD"')
    _, mine = commerce.webhook_delivery("order", 1)
    assert client.post("/webhooks/adobe", content=tampered, headers=mine).status_code == 401
    assert ledger.status_counts(inbox(CONSUMERS[0])) == {}


def test_hmac_only_when_configured(tmp_path, commerce):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    secret = commerce.credentials()["webhook_hmac_secret"]
    hmac_app = TestClient(create_app("t", ledger=ledger, trigger=None, adobe={
        "verifier": WebhookVerifier(hmac_secret=secret, header=HMAC_HEADER), "consumers": CONSUMERS[:1], "trigger": None}))
    body, headers = commerce.webhook_delivery("invoice", 1, scheme="hmac")
    assert HMAC_HEADER in headers
    assert hmac_app.post("/webhooks/adobe", content=body, headers=headers).status_code == 200
    rsa_body, rsa_headers = commerce.webhook_delivery("invoice", 1)
    assert hmac_app.post("/webhooks/adobe", content=rsa_body, headers=rsa_headers).status_code == 401
    # an RSA-configured service does not take the shared secret's signature
    rsa_app = TestClient(create_app("t", ledger=ledger, trigger=None, adobe={
        "verifier": WebhookVerifier(commerce.credentials()["webhook_public_key"]), "consumers": CONSUMERS[:1],
        "trigger": None}))
    assert rsa_app.post("/webhooks/adobe", content=body, headers=headers).status_code == 401


def test_plugin_webhook_named_by_its_route_and_signed_garbage_is_quarantined_not_refused(service, commerce):
    client, ledger, started = service
    order = commerce.document("order", 3)
    body = json.dumps({"order": order}).encode()
    headers = commerce.signer.sign(body)
    answer = client.post("/webhooks/adobe/plugin.magento.sales.api.order_management.place", content=body, headers=headers)
    assert answer.status_code == 200 and answer.headers["x-ml-connector-stored"] == "2"
    box = inbox(CONSUMERS[0])
    ids, named = take_notifications(ledger, CONSUMERS[0], "run-1")
    assert named == {"orders": [str(order["entity_id"])]}
    finish_notifications(ledger, CONSUMERS[0], ids, "run-1")
    assert ledger.status_counts(box) == {"posted": 1}
    garbage = b"\x00 not json"
    reply = client.post("/webhooks/adobe", content=garbage, headers=commerce.signer.sign(garbage))
    assert reply.status_code == 200 and reply.json() == {"op": "success"}  # the shopper's checkout is not ours to abort
    assert ledger.status_counts(box) == {"posted": 1, "quarantined": 1}
    assert started == [("t", "orders")]


def test_body_too_large_is_413(service):
    client, _, _ = service
    assert client.post("/webhooks/adobe", content=b"x" * 1_000_001).status_code == 413


def test_the_qbo_route_is_still_there(service):
    client, _, _ = service
    assert client.post("/webhooks/qbo", content=b"{}").status_code == 401  # its own verifier, not ours
    assert client.get("/health").json() == {"ok": True, "tenant": "t"}


def test_the_signal_is_the_event_the_deployments_listen_for(monkeypatch):
    from prefect.events.schemas.events import Resource, ResourceSpecification

    sent = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kw: sent.append(kw))
    emit_adobe_event("t", "orders")
    emit_adobe_event("t", "orders", "commerce-intacct-o2c")
    assert sent[0] == {"event": EVENT, "resource": {"prefect.resource.id": "ml-connector.tenant.t",
                                                    "ml-connector.tenant": "t", "ml-connector.entity-kind": "orders",
                                                    "ml-connector.integration": "all"}}
    deployments = {d["name"]: d for d in yaml.safe_load((Path(__file__).parents[2] / "prefect.yaml").read_text())[
        "deployments"]}
    [ap], [o2c] = deployments["commerce-to-intacct-ap"]["triggers"], deployments["commerce-to-intacct-o2c"]["triggers"]
    assert ap["expect"] == o2c["expect"] == [EVENT] and ap["parameters"]["poll"] is False

    def starts(trigger: dict, event: dict) -> bool:
        return ResourceSpecification(trigger["match"]).matches(Resource(event["resource"]))

    # the trigger dispatch's event starts both; the event for o2c alone does not start ap
    assert starts(ap, sent[0]) and starts(o2c, sent[0])
    assert starts(o2c, sent[1]) and not starts(ap, sent[1])
    emit_adobe_event("t", "invoices", "commerce-intacct-ap")  # the fallback of an ap delivery: ap alone
    assert starts(ap, sent[2]) and not starts(o2c, sent[2])


def test_with_task_worker_dispatch_each_consumer_is_handed_over_or_signalled(tmp_path, commerce):
    """Task-worker mode (the default): the consumer with a fast path gets one hand-over of its
    own new notification (its fallback: the event labelled with it); a consumer without one,
    and the integrations that keep no inbox, get the event labelled with their name."""
    from ml_connector.webhooks.adobe import adobe_handover

    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="t")
    handed, emitted = [], []
    deliver = adobe_handover(handed.append, emit=lambda *a: emitted.append(a),
                             event_only=("commerce-intacct-o2c", "some-poller"))
    options = {"verifier": WebhookVerifier(commerce.credentials()["webhook_public_key"]), "consumers": CONSUMERS,
               "trigger": lambda *a: emitted.append(("trigger",) + a), "deliver": deliver}
    client = TestClient(create_app("t", verifier_token="qbo-token", ledger=ledger, trigger=None, adobe=options))
    body, headers = commerce.webhook_delivery("order", 1)
    assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "2"
    [h] = handed
    [ap_row] = ledger.documents(inbox("commerce-intacct-ap"))
    assert (h.tenant, h.inbox, h.note_ids, h.ledger) == ("t", adobe("commerce-intacct-ap"), (ap_row.id,), ledger)
    assert h.submit.args == ("t", "commerce-intacct-ap", [ap_row.id], "orders")
    h.fallback()
    assert emitted == [("t", "orders", "commerce-intacct-o2c"),  # a consumer here, without a fast path
                       ("t", "orders", "some-poller"),
                       ("t", "orders", "commerce-intacct-ap")]  # the fallback just called
    assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "0"
    assert len(handed) == 1 and len(emitted) == 3  # a redelivery hands nothing over, signals nothing


def test_claims_of_a_finished_run_are_taken_back_at_once_and_others_after_the_lease(service, commerce):
    """A run that took notifications and died before finishing them leaves them claimed: the
    next run takes them back at once when that run is over, a live run's only after the lease."""
    from datetime import timedelta

    client, ledger, _ = service
    consumer, box = CONSUMERS[0], inbox(CONSUMERS[0])
    for entity_id in (1, 2):
        body, headers = commerce.webhook_delivery("order", entity_id)
        assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "2"
    dead_ids, _ = take_notifications(ledger, consumer, "run-dead")
    assert len(dead_ids) == 2 and ledger.status_counts(box) == {"posting": 2}

    lease = timedelta(seconds=600)
    assert take_notifications(ledger, consumer, "run-next", lease=lease) == ([], {})  # the claimer may be alive
    ids, named = take_notifications(ledger, consumer, "run-next", finished_runs=["run-dead"], lease=lease)
    assert sorted(ids) == sorted(dead_ids) and named == {"orders": ["1", "2"]}
    assert take_notifications(ledger, consumer, "run-last", finished_runs=["run-dead"], lease=lease) == ([], {})
    ids, _ = take_notifications(ledger, consumer, "run-last", lease=timedelta(0))  # past the lease, alive or not
    assert sorted(ids) == sorted(dead_ids)
    finish_notifications(ledger, consumer, ids, "run-last")
    assert ledger.status_counts(box) == {"posted": 2}
