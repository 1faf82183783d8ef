"""Sage Intacct -> SPS Commerce: AR invoices become RSX Invoices, posted orders get OrderAcks.

Intacct pushes nothing, so this polls: AR invoices modified since the stored WHENMODIFIED
cursor (minus an overlap window; the ledger makes the overlap harmless) are recorded, mapped to
the partner that owns the customer and uploaded to SPS. The cursor moves only when the whole
listing has been read and sent, because readByQuery pages are not ordered by WHENMODIFIED:
storing a page's high-water mark early could skip older records on later pages after a crash.

readMore is not idempotent: Intacct moves the result set forward on every call it answers. When
an answered readMore is sent again (its response was lost and the HTTP layer retried it, or
the page's line read failed and Prefect retried the task), the rows of the answered page are
never seen. Each page's ``numremaining`` must therefore follow from the previous one; when it
does not, the listing starts over (the ledger makes the re-read rows duplicates), and the
cursor moves only after a listing read without a gap (connectors/intacct/listing.py, shared
with the Sterling flow, the backfill and reconcile).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

from prefect import flow, get_run_logger
from prefect.states import State
from prefect.utilities.annotations import opaque

from ..connectors.intacct.listing import LISTING_RESTARTS, read_listing
from ..tasks.intacct import ArPage, read_ar_page
from ..settings import intent_lease_seconds
from ..tasks.ops import finished_runs
from ..tasks.outbound import (
    INTEGRATION,
    ingest_ar_invoices,
    invoice_row,
    queue_orderacks,
    requeue_stale_uploads,
    send_documents,
)
from ..tasks.resources import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..tasks.sps import delivery_report
from .sps_to_intacct import MAX_PAGES, current_run_id

CURSOR = "whenmodified"
OVERLAP = timedelta(minutes=5)
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@flow(name="intacct-to-sps", flow_run_name=run_name(INTEGRATION))
def intacct_to_sps(
    tenant: str = "demo",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> State:
    """Send Intacct AR invoices and order acknowledgements to SPS.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this WHENMODIFIED (timezone-aware); leaves the live cursor alone.
        until: Backfill up to this WHENMODIFIED.
        dry_run: Read and map, write nothing.
        page_size: Intacct records read per page.
    """
    run_id = current_run_id()
    ledger = tenant_resources(tenant).ledger
    backfill = since is not None or until is not None
    stored = ledger.get_cursor(INTEGRATION, CURSOR)
    start = since or (datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH)
    if dry_run:
        return _dry_run(tenant, start, until, page_size)
    retried = replay_earlier_attempts(tenant, INTEGRATION, run_id)
    recovered = requeue_stale_uploads(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                      lease=timedelta(seconds=intent_lease_seconds()))
    sent: list[dict] = []  # what each send returned: the report adds up its delivery figures
    high = _send_listing(tenant, start, until, page_size, run_id, sent)
    if high is not None and not backfill:
        ledger.set_cursor(INTEGRATION, high.isoformat(), CURSOR)
    # Acknowledgements are queued a batch at a time; keep going until every posted order has
    # one (queuing records the follow-up, so each round takes new orders and the loop ends).
    for _ in range(MAX_PAGES):
        ack_ids = queue_orderacks(tenant, run_id)
        if not ack_ids:
            break
        sent.append(send_documents(tenant, opaque(ack_ids), run_id))
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        sent.append(send_documents(tenant, opaque(ids), run_id))
        after = ids[-1]
    return finish_run(tenant, INTEGRATION, run_id, extra={"recovered_intents": recovered, "retried": retried,
                                                          **delivery_report(tenant, INTEGRATION, run_id, sent)})


def _ar_listing(tenant: str, start: datetime, until: datetime | None, page_size: int) -> Iterator[ArPage]:
    """The pages of the AR invoice listing since ``start``, each following from the previous one."""
    return read_listing(lambda result_id: read_ar_page(tenant, start, until, result_id, page_size),
                        lambda page: len(page.invoices), what=f"AR invoice listing since {start.isoformat()}",
                        restarts=LISTING_RESTARTS, logger=get_run_logger())


def _send_listing(tenant: str, start: datetime, until: datetime | None, page_size: int, run_id: str,
                  sent: list[dict]) -> datetime | None:
    """Read the AR invoices modified since ``start`` to the end, recording and sending each page;
    return the listing's WHENMODIFIED high-water mark. A page that does not follow from the
    previous one (rows skipped by a resent readMore, or a cursor that stopped moving) restarts
    the listing; after ``LISTING_RESTARTS`` restarts the run fails (ListingGap) with the cursor
    unmoved. Rows of an abandoned listing were recorded and sent: the high-water mark keeps them."""
    high = None
    for page in _ar_listing(tenant, start, until, page_size):
        # opaque: plain data holds no futures, and Prefect would otherwise walk 500 invoices
        # (twice per call) looking for them, as in sps_to_intacct
        report = ingest_ar_invoices(tenant, opaque(page.invoices), run_id)
        if report.new_ids:
            sent.append(send_documents(tenant, opaque(report.new_ids), run_id))
        if report.max_modified and (high is None or report.max_modified > high):
            high = report.max_modified
    return high


def _dry_run(tenant: str, start: datetime, until: datetime | None, page_size: int) -> dict:
    # Tallied by invoice, so the rows a restarted listing reads again are counted once.
    mapping = tenant_resources(tenant).mapping
    would: dict[str, bool] = {}
    for page in _ar_listing(tenant, start, until, page_size):
        for inv in page.invoices:
            would[inv.record_no] = invoice_row(inv, mapping).status == "received"
    sent = sum(would.values())
    return {"read": len(would), "would_send": sent, "would_quarantine": len(would) - sent}
