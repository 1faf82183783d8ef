"""The ``adobe-webhook-delivery`` task end to end on the sandbox (Commerce and Intacct emulators
in-process, the session's Prefect server, tenant demo-commerce): a signed order notification to
its AP bill, exactly once whoever takes it (the delivery or a concurrent flow run), and a failed
delivery handing over to the trigger."""

from __future__ import annotations

import contextvars
import threading
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from ml_connector.flows.commerce_to_intacct_ap import commerce_to_intacct_ap
from ml_connector.inbox import adobe
from ml_connector.mappings.commerce_ap_documents import INTEGRATION
from ml_connector.pipelines import commerce_ap
from ml_connector.tasks.adobe_webhook import adobe_webhook_delivery
from ml_connector.tasks.commerce_ap import fetch_by_ids
from ml_connector.webhooks.app import create_app
from tests.flows.conftest import commerce_world_factory  # noqa: F401 - a fixture
from tests.flows.test_commerce_ap_flows import TENANT, add_order, present, run, seed
from tests.waiting import wait_for

BOX = adobe(INTEGRATION).box


def _notified(world, email: str) -> tuple[dict, list[int]]:
    """A new order, its signed webhook POSTed to the service; the ids the service would hand over."""
    order = add_order(world, email=email)
    handed: list[tuple] = []
    body, headers = world.adobe.webhook_delivery("order", order["entity_id"])
    with TestClient(create_app(TENANT, trigger=None, adobe={"deliver": lambda *a: handed.append(a)})) as client:
        assert client.post("/webhooks/adobe", content=body, headers=headers).headers["x-ml-connector-stored"] == "1"
    [(tenant, kind, new_ids, _)] = handed
    assert tenant == TENANT and kind == "orders" and list(new_ids) == [INTEGRATION]
    return order, new_ids[INTEGRATION]


def _bill(order: dict) -> tuple[str, str]:
    return ("APBILL", f"CO-{order['increment_id']}")


@pytest.fixture()
def world(commerce_world_factory):  # noqa: F811 - the imported fixture
    w = commerce_world_factory()
    seed(w, orders=2)
    assert run(commerce_to_intacct_ap)[0].is_completed()  # the poll has read everything so far
    return w


def test_the_delivery_posts_the_notified_order_once_and_the_flow_finds_nothing_left(world):
    order, ids = _notified(world, "fast@example.org")
    counts = adobe_webhook_delivery(TENANT, INTEGRATION, ids, "orders")
    assert counts["notifications"] == 1 and counts["read"] == 1 and counts["posted"] == 1
    assert present(world)[_bill(order)] == 1
    assert world.ledger.status_counts(BOX) == {"posted": 1}
    again = adobe_webhook_delivery(TENANT, INTEGRATION, ids, "orders")  # a redelivered task: taken already
    assert again == {"notifications": 0}
    state, _ = run(commerce_to_intacct_ap, poll=False)  # what the trigger (the fallback) would start
    assert state.result()["webhook_notifications"] == 0
    assert run(commerce_to_intacct_ap)[0].result()["posted"] == 0  # the poll: a duplicate
    assert present(world)[_bill(order)] == 1

    # the other way round: a flow run took the notification first, the delivery finds nothing
    other, ids = _notified(world, "slow@example.org")
    assert run(commerce_to_intacct_ap, poll=False)[0].result()["webhook_notifications"] == 1
    assert adobe_webhook_delivery(TENANT, INTEGRATION, ids, "orders") == {"notifications": 0}
    assert present(world)[_bill(other)] == 1


def test_a_flow_run_during_a_delivery_leaves_its_notifications_alone_and_the_order_posts_once(world, monkeypatch):
    """The delivery holds its claim (a live task run) while a flow run starts: the flow run takes
    nothing, the delivery posts, and nothing is posted twice."""
    from prefect.client.orchestration import get_client
    from prefect.context import TaskRunContext

    order, ids = _notified(world, "race@example.org")
    inside, release, runs = threading.Event(), threading.Event(), []
    real = fetch_by_ids.fn

    def held(tenant, kind, entity_ids):
        runs.append(TaskRunContext.get().task_run.id)
        inside.set()
        assert release.wait(120)
        return real(tenant, kind, entity_ids)

    monkeypatch.setattr(commerce_ap, "fetch_by_ids", SimpleNamespace(fn=held))
    result: dict = {}
    delivery = threading.Thread(target=contextvars.copy_context().run, args=(
        lambda: result.update(adobe_webhook_delivery(TENANT, INTEGRATION, ids, "orders")),))
    delivery.start()
    try:
        assert inside.wait(120)
        assert world.ledger.status_counts(BOX) == {"posting": 1}

        def running() -> bool:  # as a worker's delivery is: known to the server, not over
            with get_client(sync_client=True) as client:
                try:
                    return client.read_task_run(runs[0]).state.is_running()
                except Exception:
                    return False

        wait_for(running, "the delivery's task run on the server")
        state, _ = run(commerce_to_intacct_ap, poll=False)
        assert state.result()["webhook_notifications"] == 0  # the live delivery's claim is left alone
        assert present(world)[_bill(order)] == 0
    finally:
        release.set()
        delivery.join(120)
    assert result["notifications"] == 1 and result["posted"] == 1
    assert world.ledger.status_counts(BOX) == {"posted": 1}
    assert run(commerce_to_intacct_ap, poll=False)[0].result()["webhook_notifications"] == 0
    assert present(world)[_bill(order)] == 1


def test_a_failed_delivery_hands_its_notification_to_the_trigger_which_posts_it(world, monkeypatch):
    order, ids = _notified(world, "down@example.org")
    signalled: list[dict] = []

    def commerce_down(*args, **kwargs):
        raise RuntimeError("Commerce is down")

    with monkeypatch.context() as patch:
        patch.setattr("prefect.events.emit_event", lambda **kw: signalled.append(kw))
        patch.setattr(commerce_ap, "fetch_by_ids", SimpleNamespace(fn=commerce_down))
        with pytest.raises(RuntimeError, match="Commerce is down"):
            adobe_webhook_delivery(TENANT, INTEGRATION, ids, "orders")
    # the ap deployment's own event
    assert [(e["event"], e["resource"]["ml-connector.tenant"], e["resource"]["ml-connector.entity-kind"],
             e["resource"]["ml-connector.integration"]) for e in signalled] == [
        ("ml-connector.adobe.notification", TENANT, "orders", INTEGRATION)]
    assert present(world)[_bill(order)] == 0
    assert world.ledger.status_counts(BOX) == {"received": 1}  # handed back at once
    state, _ = run(commerce_to_intacct_ap, poll=False)  # what the event starts
    assert state.result()["webhook_notifications"] == 1
    assert present(world)[_bill(order)] == 1 and world.ledger.status_counts(BOX) == {"posted": 1}


def test_an_unknown_consumer_is_a_one_line_error():
    with pytest.raises(ValueError, match="no webhook delivery for 'nope'"):
        adobe_webhook_delivery.fn(TENANT, "nope", [1], "orders")
