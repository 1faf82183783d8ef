"""QuickBooks Online -> SPS Commerce: QBO invoices become RSX invoices for the customer's partner.

Two ways to learn of a change, one path after it:

- webhook notifications stored by the webhook service (ledger integration ``qbo-webhook``),
  which also starts this deployment at once: the invoices they name are read by Id;
- CDC since the stored cursor (minus an overlap; the ledger makes the overlap harmless), the
  hourly safety net: a notification that never came is late, never lost. CDC looks back 30
  days at most: an older cursor is clamped and logged. A backfill (``since``) older than that
  reads with a query on Metadata.LastUpdatedTime instead, and leaves the live cursor alone.

The cursor is the time the run started, stored only after everything read was sent.

A run killed between intent and outcome leaves invoices in ``posting`` (some reached SPS, some
did not) and notifications claimed: the next run first settles both, at once for runs that are
over and after the intent lease otherwise. Such an invoice is looked for in SPS before it is
sent again: SPS passes on every file it takes from ``in/``, so a blind second upload could be a
second transaction (tasks/outbound.requeue_stale_uploads, tasks/sps.upload).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow
from prefect.states import State
from prefect.utilities.annotations import opaque

from ..settings import intent_lease_seconds
from ..tasks.ops import finished_runs
from ..tasks.sps import requeue_stale_uploads
from ..tasks.qbo import (
    CDC_WINDOW, OUTBOUND, clamp_since, ingest_invoices, read_changed_invoices, read_invoices, send_invoices, utcnow,
)
from ..tasks.qbo_webhook import WEBHOOK, finish_notifications, take_notifications
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..tasks.sps import delivery_report
from ..engine import current_run_id

CURSOR = "cdc"
OVERLAP = timedelta(minutes=5)


@flow(name="qbo-to-sps", flow_run_name=run_name(OUTBOUND))
def qbo_to_sps(tenant: str = "demo-qbo", since: datetime | None = None) -> State:
    """Send QBO invoices changed since the cursor (and those webhooks named) to SPS.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this time (timezone-aware; CDC, or a query beyond its 30 days);
            leaves the live cursor alone.
    """
    run_id, started = current_run_id(), utcnow()
    ledger = tenant_resources(tenant).ledger
    retried = replay_earlier_attempts(tenant, OUTBOUND, run_id)
    recovered = requeue_stale_uploads(tenant, run_id, finished_runs(tenant, OUTBOUND, run_id),
                                      lease=timedelta(seconds=intent_lease_seconds()), integration=OUTBOUND)
    note_ids, invoice_ids = take_notifications(tenant, run_id, finished_runs(tenant, WEBHOOK, run_id))
    if invoice_ids:
        named = read_invoices(tenant, opaque(invoice_ids))
        ingest_invoices(tenant, opaque(named), run_id)
    finish_notifications(tenant, opaque(note_ids), run_id)
    if since is not None:  # a backfill: CDC if it reaches, a query if not
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        invoices = read_changed_invoices(tenant, since, use_query=since < started - CDC_WINDOW)
    else:
        stored = ledger.get_cursor(OUTBOUND, CURSOR)
        start = datetime.fromisoformat(stored) - OVERLAP if stored else started - CDC_WINDOW + OVERLAP + OVERLAP
        invoices = read_changed_invoices(tenant, clamp_since(start, started))
    # opaque: plain data holds no futures, and walking up to 1000 invoices per call looking
    # for them is pure cost (see sps_to_intacct)
    ingest_invoices(tenant, opaque(invoices), run_id)
    after, sent = 0, []
    while ids := ledger.pending_ids(OUTBOUND, limit=1000, after_id=after):
        sent.append(send_invoices(tenant, opaque(ids), run_id))
        after = ids[-1]
    if since is None:
        ledger.set_cursor(OUTBOUND, started.isoformat(), CURSOR)
    extra = {"webhook_notifications": len(note_ids), "recovered_intents": recovered, "retried": retried,
             **delivery_report(tenant, OUTBOUND, run_id, sent)}
    return finish_run(tenant, OUTBOUND, run_id, extra=extra)
