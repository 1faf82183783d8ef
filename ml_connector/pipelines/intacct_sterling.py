"""Sage Intacct -> IBM Sterling B2Bi: vendors as trading partners; AP bills as X12 810 and
purchase orders as X12 850, delivered into each partner's Sterling Inbox.

Before anything is read, every configured vendor's trading partner is created or updated
(tasks/sterling.sync_partners): each X12 document goes to its partner's mailbox, which exists
once the partner does. Then bills and POs modified since their own cursors (minus the overlap;
the ledger makes the overlap harmless) are read, recorded and delivered, one listing per kind.
Each kind's cursor moves only once its whole listing is durable: readByQuery pages are not
ordered by WHENMODIFIED (as in pipelines/intacct_sps.py). ``read_page`` does readMore and the
line ``read`` in one retried task, so its retry may resend an answered readMore; the listing
goes through connectors/intacct/listing.py, which restarts it on a gap.

A bill or PO changed after it was sent is a new revision of its document (ordered by
WHENMODIFIED): an 810/850 that replaces (purpose 05) or cancels (01) the one the partner has,
in an interchange of its own with new control numbers; a change of a paid bill or a received
PO is quarantined for a person (mappings/intacct_sterling.py).

A delivery a dead run left unfinished is looked for in the partner's Inbox under its message
name (control numbers are assigned once per revision) before it is ever delivered again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prefect import get_run_logger
from pydantic import BaseModel

from ..connectors.errors import NotFound
from ..connectors.intacct.listing import EPOCH, LISTING_RESTARTS, OVERLAP, read_listing
from ..connectors.sterling import partner_inbox
from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..ledger.x12_controls import ack_counts, ack_rows, mark_delivered
from ..mappings.intacct_sterling import (
    PARTNER,
    SOURCES,
    cursor_name,
    document_key,
    kinds_to_send,
    last_modified,
    message_name,
    record_row,
)
from ..mappings.intacct_to_x12 import preview_document
from ..mappings.resend import x12_new_controls
from ..ops.reconcile_ref import Reconciliation
from ..runtime.clients import sterling_client
from ..tasks.sterling import INTEGRATION, deliver_documents, read_page, settings_of, sync_partners


class Records(BaseModel):
    """A page of one kind's listing: bills (810) or purchase orders (850), lines included."""

    doc_type: str
    records: list[dict]


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """Each kind's listing in turn, from its own cursor (``cursor``, the pipeline's single one,
    is not used): its pages, then an empty page carrying its WHENMODIFIED high-water mark,
    stored under the kind's cursor once every page of the listing is durable."""
    for doc_type in kinds_to_send(settings_of(run.resources)):
        yield from _listing(run, doc_type)


def _listing(run: Run, doc_type: str) -> Iterator[Page]:
    name = cursor_name(doc_type)
    stored = run.stored_cursor(name)
    start: datetime = run.since or (datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH)
    high = None
    what = f"{SOURCES[doc_type][0]} listing since {start.isoformat()}"
    for page in read_listing(lambda result_id: read_page(run.tenant, doc_type, start, run.until, result_id, run.page_size),
                             lambda page: len(page.records), what=what, restarts=LISTING_RESTARTS,
                             logger=get_run_logger()):
        modified = last_modified(page.records)
        if modified is not None and (high is None or modified > high):
            high = modified
        yield Page(Records(doc_type=doc_type, records=page.records), store_cursor=False)
    yield Page(Records(doc_type=doc_type, records=[]), cursor=high.isoformat() if high else None,
               store_cursor=high is not None, cursor_name=name)


def to_rows(run: Run, page: Page) -> Batch:
    """Each record as a revision of its document: a change when an earlier revision went out
    (mappings/intacct_sterling.record_row says which effect), given what the ledger holds."""
    settings = settings_of(run.resources)
    doc_type, records = page.items.doc_type, page.items.records
    keys = [document_key(doc_type, r, settings) for r in records]
    known = run.ledger.rows_by_key(INTEGRATION, keys) if keys else {}
    rows = []
    for key, record in zip(keys, records, strict=True):
        row = known.get(key)
        rows.append(record_row(doc_type, record, settings, sent=row is not None and row.applied_revision is not None,
                               stored=row.raw_payload if row is not None else None))
    return Batch(rows=rows)


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """Documents a dead run left half-delivered: found in the partner's Inbox under their message
    name -> posted; otherwise (the Inbox too may not exist yet) received again, with the same
    control numbers and name. Partners go back to received: their write finds the partner
    first, so it is safe to repeat."""
    controls = {r.document_id: r for r in ack_rows(run.ledger, ids=[c.id for c in stale])}
    client, outcomes, delivered = sterling_client(run.resources), [], []
    for c in stale:
        ack = controls.get(c.id)
        found = []
        if ack is not None and c.doc_type != PARTNER:
            try:
                found = client.find_messages(c.target_ref or partner_inbox(c.partner),
                                             message_name(c.doc_type, c.natural_key, int(ack.interchange)))
            except NotFound:  # no mailbox: the partner is not created yet, so nothing was delivered
                found = []
        if found:
            outcomes.append(Outcome(c.id, POSTED, target_id=found[0].id))
            delivered.append((c.id, found[0].id))
        else:
            outcomes.append(Outcome(c.id, RECEIVED, error_class="recovered",
                                    error="intent without outcome; not in Sterling"))
    mark_delivered(run.ledger, delivered)
    return outcomes


def partners(run: Run) -> dict:
    return sync_partners(run.tenant, run.run_id)


def report(run: Run) -> dict:
    """Where the delivered documents stand with their partners' 997s."""
    return {f"ack_{k}": v for k, v in ack_counts(run.ledger).items()}


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=deliver_documents, find=find,
                    reconcile=Reconciliation("reconcile_sterling", "sterling_frames"),
                    before=(partners,), report=report, resend=x12_new_controls, preview=preview_document)
