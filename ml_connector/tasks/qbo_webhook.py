"""The fast path for QBO webhook notifications: a Prefect background task served by a warm task worker.

The webhook service (webhooks/app.py, ``ML_CONNECTOR_WEBHOOK_DISPATCH=task-worker``, the default)
hands the ledger ids of the notifications it just stored to :func:`qbo_webhook_delivery` with
``.delay()``, under the tenant's own task key (webhooks/dispatch.tenant_task); the delivery
worker serving that tenant (webhooks/worker.py: the service's child process, or ``ml-connector
webhooks worker``) runs it in a process that has already imported everything and built the
tenant's clients. The task does what the
``qbo-to-sps`` flow does for those notifications, with the same tasks of tasks/qbo.py: read the
invoices they name by Id, ingest them in the ledger, finish the notifications, upload the new
RSX invoices and shipments to SPS, in one task run. What it leaves out is what costs time for one notification
and is the flow's job anyway: a flow run of its own (creation, states, its heartbeat thread), the
CDC call, the recovery of dead runs' intents, the run report artifact.

Nothing depends on this path: a notification stays ``received`` in the ledger until something
processes it. If the hand-over fails, the task fails, or the notifications are not finished
within the grace period (webhooks/dispatch.py), the deployment's trigger event is emitted and
the ``qbo-to-sps`` flow takes over; its hourly CDC run catches the rest. Ledger claims keep a
delivery and a concurrent flow run from sending the same document twice.

The flow's own tasks over the same inbox (ml_connector/inbox.py) are here too:
:func:`take_notifications` and :func:`finish_notifications`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..inbox import QBO
from ..ledger.store import Claimed
from ..runtime.clients import qbo_client
from ..runtime.tenant import tenant as tenant_resources
from .qbo import ingest_invoices, read_invoices, send_invoices
from .qbo_master import effective_mapping
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.qbo_webhook")

DELIVERY = "qbo-webhook-delivery"
WEBHOOK = QBO.box  # the ledger integration holding the notifications


def named_invoices(claimed: Iterable[Claimed]) -> list[str]:
    """The invoice Ids the notifications name (deletes and voids have nothing to send)."""
    ids = set()
    for c in claimed:
        event = json.loads(c.raw_payload or b"{}")
        if event.get("entity") == "Invoice" and event.get("operation") not in ("Delete", "Void") and event.get("id"):
            ids.add(str(event["id"]))
    return sorted(ids)


@task(cache_policy=NO_CACHE, **retry_options())
def take_notifications(tenant: str, run_id: str,
                       finished_runs: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Claim the stored webhook notifications; returns their ledger ids and the invoice Ids they name.

    Claims a run left unfinished are taken back first: at once when that run is over
    (``finished_runs``, as tasks/ops.finished_runs finds them: it crashed or failed between
    taking and finishing them), otherwise after the intent lease."""
    claimed = QBO.take(tenant_resources(tenant).ledger, run_id, finished_runs=finished_runs or ())
    return [c.id for c in claimed], named_invoices(claimed)


@task(cache_policy=NO_CACHE)
def finish_notifications(tenant: str, ids: list[int], run_id: str) -> None:
    """Mark notifications handled once the invoices they name are in the ledger."""
    QBO.finish(tenant_resources(tenant).ledger, ids, run_id)


def _run_id() -> str:
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    return str(ctx.task_run.id) if ctx else "webhook-delivery"


# The tasks of tasks/qbo.py are called through ``.fn``: their code, without a task run each.
# Measured (README, Performance): with four nested task runs per delivery, their state events
# kept the Prefect server (SQLite) busy, and the next ``.delay()`` stalled about 2 s in more
# than half the deliveries (p50 2.1 s); without them, p50 0.3 s and no stall. Retries: the HTTP
# layer (connectors/_http.py) retries transient errors per request, and a delivery that still
# fails hands over to the flow at once (below), whose Prefect retries and recovery take back
# what this run claimed (a run id that is not a flow run counts as over, tasks/ops.py).
@task(name=DELIVERY, cache_policy=NO_CACHE)
def qbo_webhook_delivery(tenant: str, note_ids: list[int]) -> dict:
    """Send the invoices named by the stored notifications ``note_ids`` to SPS; returns counts."""
    run_id = _run_id()
    ledger = tenant_resources(tenant).ledger
    try:
        claimed = QBO.take(ledger, run_id, note_ids)  # a flow run may have taken them already
        invoice_ids = named_invoices(claimed)
        new_ids = ingest_invoices.fn(tenant, read_invoices.fn(tenant, invoice_ids), run_id) if invoice_ids else []
        finish_notifications.fn(tenant, [c.id for c in claimed], run_id)
        sent = send_invoices.fn(tenant, new_ids, run_id) if new_ids else {}
    except Exception:
        log.warning("webhook delivery for %s failed; handing its notifications to the qbo-to-sps deployment", tenant)
        QBO.release(ledger, list(note_ids), run_id)
        QBO.emit(tenant)
        raise
    return {"notifications": len(claimed), "invoices_read": len(invoice_ids), "documents": len(new_ids),
            **{k: v for k, v in sent.items() if isinstance(v, int)}}


def warm(tenant: str) -> None:
    """Build what a delivery needs before the first notification comes: the ledger, the tenant
    mapping and the QBO and SPS clients (no requests: tokens are fetched on first use)."""
    res = tenant_resources(tenant)
    effective_mapping(res)
    qbo_client(res)
    res.sps()

