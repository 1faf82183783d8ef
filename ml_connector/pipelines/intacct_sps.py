"""Sage Intacct -> SPS Commerce: AR invoices become RSX Invoices, posted orders get OrderAcks,
inventory shippers become RSX Shipments (856) for their customer's partner (a follow-up step with
a WHENMODIFIED mark of its own, tasks/outbound.queue_shipments).

Intacct pushes nothing, so this polls: AR invoices modified since the stored WHENMODIFIED
cursor (minus an overlap window; the ledger makes the overlap harmless) are recorded, mapped to
the partner that owns the customer and uploaded to SPS. The cursor moves only when the whole
listing has been read and sent, because readByQuery pages are not ordered by WHENMODIFIED:
storing a page's high-water mark early could skip older records on later pages after a crash.

readMore is not idempotent: Intacct moves the result set forward on every call it answers. When
an answered readMore is sent again (its response was lost and the HTTP layer retried it, or the
page's read failed and Prefect retried the task), the rows of the answered page are never seen.
Each page's ``numremaining`` must therefore follow from the previous one; when it does not, the
listing starts over (the ledger makes the re-read rows duplicates), and the cursor moves only
after a listing read without a gap (connectors/intacct/listing.py, shared with the Sterling
flow, the backfill and reconcile).

SPS passes on whatever it takes from ``in/``, so an upload whose outcome a dead run lost is
looked for in SPS before it is ever sent again (tasks/sps.find_uploads, docs/sps-delivery.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prefect import get_run_logger
from prefect.utilities.annotations import opaque

from ..connectors.errors import BadDocument
from ..connectors.intacct.listing import EPOCH, LISTING_RESTARTS, OVERLAP, read_listing
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps import rsx
from ..engine import MAX_PAGES, Batch, Page, Pipeline, Run
from ..ledger.store import Claimed, Outcome
from ..mappings.intacct_previews import preview_ar_invoice
from ..mappings.intacct_to_sps import arinvoice_to_rsx
from ..mappings.resend import sps_new_file
from ..mappings.tenant import TenantMapping
from ..ops.reconcile_ref import Reconciliation
from ..tasks.intacct import read_ar_page
from ..tasks.outbound import INTEGRATION, invoice_row, queue_orderacks, queue_shipments, send_documents
from ..tasks.sps import delivery_report, drop_unseen_changes, find_uploads

CURSOR = "whenmodified"


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """The AR invoice listing since the cursor (minus the overlap) or the window's start, each
    page following from the previous one; then an empty page carrying the listing's
    WHENMODIFIED high-water mark, stored once every page is durable."""
    start = run.since or (datetime.fromisoformat(cursor) - OVERLAP if cursor else EPOCH)
    high = None
    for page in read_listing(lambda result_id: read_ar_page(run.tenant, start, run.until, result_id, run.page_size),
                             lambda page: len(page.invoices), what=f"AR invoice listing since {start.isoformat()}",
                             restarts=LISTING_RESTARTS, logger=get_run_logger()):
        modified = max((inv.when_modified for inv in page.invoices), default=None)
        if modified is not None and (high is None or modified > high):
            high = modified
        yield Page(page.invoices, store_cursor=False)
    yield Page([], cursor=high.isoformat() if high else None, store_cursor=high is not None)


def to_rows(run: Run, page: Page) -> Batch:
    """AR invoices keyed by partner and number; a change the retailer would not see (a payment
    applied, a memo) sends nothing (tasks/sps.drop_unseen_changes)."""
    mapping = run.resources.mapping
    rows = [row for row in (invoice_row(inv, mapping) for inv in page.items) if row is not None]
    return Batch(rows=drop_unseen_changes(run.ledger, run.integration, rows, render(mapping)))


def render(mapping: TenantMapping) -> Callable[[str, bytes], bytes | None]:
    """What a recorded AR invoice sends as an original (None when it does not map)."""
    def rendered(_: str, raw: bytes) -> bytes | None:
        try:
            return rsx.encode_xml("invoice", [arinvoice_to_rsx(ArInvoice.model_validate_json(raw), mapping)])
        except (BadDocument, ValueError):
            return None
    return rendered


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    return find_uploads(run.ledger, run.integration, stale, left)


def send_orderacks(run: Run) -> dict:
    """Acknowledge every posted inbound order, a batch at a time, until none is left (queuing
    records the follow-up, so each round takes new orders and the loop ends)."""
    for _ in range(MAX_PAGES):
        ids = queue_orderacks(run.tenant, run.run_id)
        if not ids:
            break
        run.posted.append(send_documents(run.tenant, opaque(ids), run.run_id))
    return {}


def send_shipments(run: Run) -> dict:
    """Record the Intacct inventory shippers changed since the last run as RSX shipments to
    their customers' partners, and send them (mappings/intacct_shipments.py)."""
    ids = queue_shipments(run.tenant, run.run_id)
    if ids:
        run.posted.append(send_documents(run.tenant, opaque(ids), run.run_id))
    return {}


def report(run: Run) -> dict:
    return delivery_report(run.tenant, run.integration, run.run_id, run.posted)


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=send_documents, find=find,
                    reconcile=Reconciliation("reconcile_sps_intacct", "invoices_frames"),
                    cursor_name=CURSOR, followups=(send_orderacks, send_shipments), report=report, resend=sps_new_file,
                    preview=preview_ar_invoice)
