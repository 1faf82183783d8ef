"""Sage Intacct -> SPS Commerce: AR invoices become RSX Invoices, posted orders get OrderAcks.

Intacct pushes nothing, so this polls: AR invoices modified since the stored WHENMODIFIED
cursor (minus an overlap window; the ledger makes the overlap harmless) are recorded, mapped to
the partner that owns the customer and uploaded to SPS. The cursor moves only when the whole
listing has been read and sent, because readByQuery pages are not ordered by WHENMODIFIED:
storing a page's high-water mark early could skip older records on later pages after a crash.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger

from ..tasks.intacct import read_ar_page
from ..settings import intent_lease_seconds
from ..tasks.ops import finished_runs, publish_report
from ..tasks.outbound import (
    INTEGRATION,
    ingest_ar_invoices,
    invoice_row,
    queue_orderacks,
    requeue_stale_uploads,
    send_documents,
)
from ..tasks.resources import tenant as tenant_resources
from .sps_to_intacct import MAX_PAGES, current_run_id

CURSOR = "whenmodified"
OVERLAP = timedelta(minutes=5)
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@flow(name="intacct-to-sps")
def intacct_to_sps(
    tenant: str = "demo",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> dict:
    """Send Intacct AR invoices and order acknowledgements to SPS."""
    run_id = current_run_id()
    ledger = tenant_resources(tenant).ledger
    backfill = since is not None or until is not None
    stored = ledger.get_cursor(INTEGRATION, CURSOR)
    start = since or (datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH)
    if dry_run:
        return _dry_run(tenant, start, until, page_size)
    recovered = requeue_stale_uploads(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                      lease=timedelta(seconds=intent_lease_seconds()))
    high, result_id = None, None
    for _ in range(MAX_PAGES):
        page = read_ar_page(tenant, start, until, result_id, page_size)
        report = ingest_ar_invoices(tenant, page.invoices, run_id)
        if report.new_ids:
            send_documents(tenant, report.new_ids, run_id)
        if report.max_modified and (high is None or report.max_modified > high):
            high = report.max_modified
        if not page.result_id or page.num_remaining == 0:
            break
        result_id = page.result_id
    if high is not None and not backfill:
        ledger.set_cursor(INTEGRATION, high.isoformat(), CURSOR)
    # Acknowledgements are queued a batch at a time; keep going until every posted order has
    # one (queuing records the follow-up, so each round takes new orders and the loop ends).
    for _ in range(MAX_PAGES):
        ack_ids = queue_orderacks(tenant, run_id)
        if not ack_ids:
            break
        send_documents(tenant, ack_ids, run_id)
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        send_documents(tenant, ids, run_id)
        after = ids[-1]
    counts = publish_report(tenant, INTEGRATION, run_id, extra={"recovered_intents": recovered})
    get_run_logger().info("intacct-to-sps for %s: %s", tenant, counts)
    return counts


def _dry_run(tenant: str, start: datetime, until: datetime | None, page_size: int) -> dict:
    mapping = tenant_resources(tenant).mapping
    tally, result_id = {"read": 0, "would_send": 0, "would_quarantine": 0}, None
    for _ in range(MAX_PAGES):
        page = read_ar_page(tenant, start, until, result_id, page_size)
        for inv in page.invoices:
            tally["read"] += 1
            tally["would_send" if invoice_row(inv, mapping).status == "received" else "would_quarantine"] += 1
        if not page.result_id or page.num_remaining == 0:
            break
        result_id = page.result_id
    return tally
