"""The fast path for Adobe Commerce webhook notifications: a Prefect background task served by the
warm delivery worker (webhooks/worker.py), as tasks/qbo_webhook.py is for QBO.

The webhook service (webhooks/adobe.py, ``ML_CONNECTOR_WEBHOOK_DISPATCH=task-worker``, the
default) stores a verified notification once per consuming integration (ml_connector/inbox.py), then hands each
consumer's new ledger ids to :func:`adobe_webhook_delivery` with ``.delay()``, under the tenant's
own task key (webhooks/dispatch.tenant_task), which only a worker serving that tenant runs. For
``commerce-intacct-ap`` the task does what the inbox step of the ``commerce-to-intacct-ap`` flow
does for those notifications, with the same pipeline (pipelines/commerce_ap.py, engine/inbox.py):
claim them, read the orders, invoices and credit memos they name by id (in that order: a credit
memo credits a bill), record them in the ledger, finish the notifications, post the new
documents to Intacct with the pipeline's post task, page by page. One task run, no flow run
(creation, states, heartbeat), no poll, no artifact: those stay the flow's job.

``commerce-intacct-o2c`` keeps no inbox (integrations.py: it reads Commerce by cursor, a
notification only means "now"), so it has no delivery here: the service emits its event.

Nothing depends on this path: a notification stays ``received`` until something processes it.
If the hand-over fails, the task fails, or the notifications are not finished within the grace
period (webhooks/dispatch.py), the consumer's trigger event is emitted and its deployment takes
over; the scheduled poll catches the rest. Ledger claims make a delivery and a concurrent flow
run exclusive: a notification is claimed by one of them, an entity recorded once (the ledger's
natural key), a document posted by the run that claims it (engine/posting.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..engine import Run
from ..engine.inbox import record_deliveries
from ..inbox import adobe
from ..mappings.commerce_ap_documents import KINDS as AP_KINDS
from ..mappings.commerce_ap_documents import named_entities
from ..pipelines.commerce_ap import PIPELINE as AP_PIPELINE
from ..runtime.tenant import tenant as tenant_resources

log = logging.getLogger("ml_connector.tasks.adobe_webhook")

DELIVERY = "adobe-webhook-delivery"


def deliver_ap(tenant: str, note_ids: list[int], run_id: str) -> dict[str, int]:
    """``commerce-intacct-ap``: the flow's inbox step for exactly ``note_ids``.

    The pipeline's steps are called through ``.fn`` (engine/inbox.record_deliveries, the post
    task): their code, no task run each. Nested task runs' state events kept the Prefect server
    busy and stalled the next ``.delay()`` about 2 s (measured for QBO, README Performance)."""
    run = Run(tenant, AP_PIPELINE.name, run_id)
    inbox = AP_PIPELINE.inbox.inbox  # type: ignore[union-attr]
    claimed = inbox.take(run.ledger, run_id, note_ids)  # a flow run may have them
    counts: Counter = Counter(notifications=len(claimed))
    if not claimed:
        return dict(counts)
    named = named_entities(claimed)
    if read := sum(len(named[kind]) for kind in AP_KINDS if named.get(kind)):
        counts["read"] = read
    for page in record_deliveries(AP_PIPELINE, run, claimed):  # kind by kind: a bill before its credit memo
        if page.new_ids:
            counts.update(AP_PIPELINE.post.fn(tenant, page.new_ids, run_id, page.payloads))
    return dict(counts)


def warm_ap(tenant: str) -> None:
    """What an AP delivery builds on first use: ledger, mapping, Adobe and Intacct clients (no
    requests: sessions and tokens come on first use)."""
    res = tenant_resources(tenant)
    res.commerce("procure")
    res.adobe()
    res.intacct()


# consuming integration -> (its delivery, its warm-up)
DELIVERIES: dict[str, tuple[Callable[[str, list[int], str], dict], Callable[[str], None]]] = {
    AP_PIPELINE.name: (deliver_ap, warm_ap),
}


def _run_id() -> str:
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    return str(ctx.task_run.id) if ctx else "adobe-webhook-delivery"


# Retries: the HTTP layer (connectors/_http.py) retries transient errors per request; a delivery
# that still fails hands over to the flow at once (below), whose recovery takes back what this
# run claimed as soon as this task run is over (tasks/ops.py reads task runs too).
@task(name=DELIVERY, cache_policy=NO_CACHE)
def adobe_webhook_delivery(tenant: str, integration: str, note_ids: list[int], kind: str) -> dict:
    """Process the stored notifications ``note_ids`` of consumer ``integration``; returns counts.
    ``kind`` is the notified entity kind, the label of the fallback event."""
    if integration not in DELIVERIES:
        raise ValueError(f"no webhook delivery for {integration[:60]!r} (known: {', '.join(DELIVERIES)})")
    deliver, _ = DELIVERIES[integration]
    inbox, run_id = adobe(integration), _run_id()
    try:
        counts = deliver(tenant, list(note_ids), run_id)
    except Exception:
        log.warning("webhook delivery of %s for %s failed; handing its notifications to the deployment",
                    integration, tenant)
        inbox.release(tenant_resources(tenant).ledger, list(note_ids), run_id)
        inbox.emit(tenant, {"entity-kind": kind})
        raise
    if counts.get("waiting"):  # a vendor another run is creating, or the bill a credit memo credits:
        inbox.emit(tenant, {"entity-kind": kind})  # the deployment's run posts them once they can
    return counts


def warm(tenant: str) -> None:
    """Warm every delivery the tenant's mapping configures."""
    from .. import integrations

    mapping = tenant_resources(tenant).mapping
    for name, (_, warm_one) in DELIVERIES.items():
        if integrations.configured(integrations.get(name), mapping):
            warm_one(tenant)
