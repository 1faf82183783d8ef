"""The fast path for QBO webhook notifications: a Prefect background task served by a warm task worker.

The webhook service (webhooks/app.py, ``ML_CONNECTOR_WEBHOOK_DISPATCH=task-worker``, the default)
hands the ledger ids of the notifications it just stored to :func:`qbo_webhook_delivery` with
``.delay()``, under the tenant's own task key (webhooks/dispatch.tenant_task); the delivery
worker serving that tenant (webhooks/worker.py: the service's child process, or ``ml-connector
webhooks worker``) runs it in a process that has already imported everything and built the
tenant's clients. The task does what the
``qbo-to-sps`` flow's inbox step does for those notifications, with the same pipeline
(pipelines/qbo_sps.py, engine/inbox.py): read the invoices they name by Id, record them in the
ledger, finish the notifications, upload the new RSX invoices and shipments to SPS with the
pipeline's post task, in one task run. What it leaves out is what costs time for one notification
and is the flow's job anyway: a flow run of its own (creation, states, its heartbeat thread), the
CDC call, the recovery of dead runs' intents, the run report artifact.

Nothing depends on this path: a notification stays ``received`` in the ledger until something
processes it. If the hand-over fails, the task fails, or the notifications are not finished
within the grace period (webhooks/dispatch.py), the deployment's trigger event is emitted and
the ``qbo-to-sps`` flow takes over; its hourly CDC run catches the rest. Ledger claims keep a
delivery and a concurrent flow run from sending the same document twice.
"""

from __future__ import annotations

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..engine import Run
from ..engine.inbox import record_deliveries
from ..inbox import QBO
from ..mappings.qbo_to_sps import named_invoices
from ..pipelines.qbo_sps import PIPELINE
from ..runtime.tenant import tenant as tenant_resources
from .qbo_master import effective_mapping

log = logging.getLogger("ml_connector.tasks.qbo_webhook")

DELIVERY = "qbo-webhook-delivery"
WEBHOOK = QBO.box  # the ledger integration holding the notifications


def _run_id() -> str:
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    return str(ctx.task_run.id) if ctx else "webhook-delivery"


# The pipeline's steps are called through ``.fn`` (engine/inbox.record_deliveries, the post
# task): their code, without a task run each. Measured (README, Performance): with four nested
# task runs per delivery, their state events kept the Prefect server (SQLite) busy, and the next
# ``.delay()`` stalled about 2 s in more than half the deliveries (p50 2.1 s); without them, p50
# 0.3 s and no stall. Retries: the HTTP layer (connectors/_http.py) retries transient errors per
# request, and a delivery that still fails hands over to the flow at once (below), whose Prefect
# retries and recovery take back what this run claimed (a run id that is not a flow run counts as
# over, tasks/ops.py).
@task(name=DELIVERY, cache_policy=NO_CACHE)
def qbo_webhook_delivery(tenant: str, note_ids: list[int]) -> dict:
    """Send the invoices named by the stored notifications ``note_ids`` to SPS; returns counts."""
    run = Run(tenant, PIPELINE.name, _run_id())
    ledger = tenant_resources(tenant).ledger
    try:
        claimed = QBO.take(ledger, run.run_id, note_ids)  # a flow run may have taken them already
        recorded = record_deliveries(PIPELINE, run, claimed)
        new_ids = [i for page in recorded for i in page.new_ids]
        payloads = {k: v for page in recorded for k, v in page.payloads.items()}
        sent = PIPELINE.post.fn(tenant, new_ids, run.run_id, payloads) if new_ids else {}
    except Exception:
        log.warning("webhook delivery for %s failed; handing its notifications to the qbo-to-sps deployment", tenant)
        QBO.release(ledger, list(note_ids), run.run_id)
        QBO.emit(tenant)
        raise
    return {"notifications": len(claimed), "invoices_read": len(named_invoices(claimed)), "documents": len(new_ids),
            **{k: v for k, v in sent.items() if isinstance(v, int)}}


def warm(tenant: str) -> None:
    """Build what a delivery needs before the first notification comes: the ledger, the tenant
    mapping and the QBO and SPS clients (no requests: tokens are fetched on first use)."""
    res = tenant_resources(tenant)
    effective_mapping(res)
    res.qbo()
    res.sps()
