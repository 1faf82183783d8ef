"""QuickBooks Online -> SPS Commerce: QBO invoices become RSX invoices for the customer's partner,
and those with a ship date also RSX shipments (mappings/qbo_to_sps.py says what a QBO shipment
confirmation is).

Two sources, one path after them:

- webhook notifications in the QBO inbox (ml_connector/inbox.py), stored by the webhook service,
  which also starts this deployment at once: the invoices they name are read by Id and recorded
  before the listing (the engine's inbox step, engine/inbox.py; the webhook fast path,
  tasks/qbo_webhook.py, records and posts them the same way without a flow run);
- CDC since the stored cursor (minus an overlap; the ledger makes the overlap harmless), the
  hourly safety net: a notification that never came is late, never lost. CDC looks back 30
  days at most: an older cursor is clamped and logged. A backfill (``since``) older than that
  reads with a query on Metadata.LastUpdatedTime instead, and leaves the live cursor alone.

The cursor is the time the CDC read started, stored once what it read is recorded and sent.

SPS passes on every file it takes from ``in/``, so an upload whose outcome a dead run lost is
looked for in SPS before it is ever sent again (tasks/sps.find_uploads, tasks/sps.upload).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from ..connectors.errors import BadDocument, one_line
from ..connectors.qbo import Invoice
from ..connectors.qbo.client import CDC_MAX_AGE
from ..connectors.sps import rsx
from ..engine import Batch, Page, Pipeline, Run
from ..engine.pipeline import InboxSource
from ..inbox import QBO
from ..ledger.revisions import CANCEL
from ..ledger.schema import QUARANTINED, RECEIVED
from ..ledger.store import Claimed, Incoming, Outcome
from ..mappings.outbound_revisions import qbo_cancellation, qbo_effect, qbo_version
from ..mappings.qbo_preview import preview_invoice
from ..mappings.qbo_to_sps import (
    deleted_invoices,
    invoice_number,
    is_shipment,
    named_invoices,
    partner_for_qbo_invoice,
    qbo_invoice_to_rsx,
    qbo_shipment_to_rsx,
)
from ..mappings.resend import sps_new_file
from ..mappings.tenant import TenantMapping
from ..ops.reconcile_ref import Reconciliation
from ..tasks.qbo import OUTBOUND, read_changed_invoices, read_invoices, send_invoices
from ..tasks.qbo_master import effective_mapping
from ..tasks.sps import delivery_report, drop_unseen_changes, find_uploads, outbox_path, recorded_documents

log = logging.getLogger("ml_connector.pipelines.qbo_sps")

CURSOR = "cdc"
OVERLAP = timedelta(minutes=5)


def cdc_start(stored: str | None, now: datetime) -> datetime:
    """Where the live CDC read starts: the stored cursor minus the overlap, or (first run) as
    far back as CDC reaches; a cursor older than CDC's 30 days is clamped, and logged."""
    oldest = now - CDC_MAX_AGE + OVERLAP
    if stored is None:
        return oldest + OVERLAP
    since = datetime.fromisoformat(stored) - OVERLAP
    if since < oldest:
        log.warning("QBO CDC cursor %s is older than the 30-day CDC window: clamped to %s; changes before that "
                    "need a backfill run (since=..., read with a query)", since.isoformat(), oldest.isoformat())
        return oldest
    return since


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """The invoices changed since the cursor (CDC), or since the backfill's start (CDC when it
    reaches, a query when it does not), as one page carrying the read's start as the cursor."""
    started = datetime.now(UTC)
    if run.since is not None:
        since = run.since
        if not isinstance(since, datetime) or since.tzinfo is None:
            raise ValueError("since must be a timezone-aware datetime")
        invoices = read_changed_invoices(run.tenant, since, use_query=since < started - CDC_MAX_AGE)
    else:
        invoices = read_changed_invoices(run.tenant, cdc_start(cursor, started))
    yield Page(invoices, cursor=started.isoformat())


def read_named(run: Run, claimed: list[Claimed]) -> Iterator[Page]:
    """The invoices the notifications ``claimed`` name, read by Id (a vanished one is skipped),
    and a delete stub for each deleted one (as CDC reports it). Called inside a task
    (engine/inbox.py): the read's code, without a task run of its own."""
    ids, gone = named_invoices(claimed), deleted_invoices(claimed)
    if ids or gone:
        yield Page((read_invoices.fn(run.tenant, ids) if ids else []) + gone, store_cursor=False)


def invoice_rows(inv: Invoice, mapping: TenantMapping) -> list[Incoming]:
    """The ledger rows of one QBO invoice: the RSX invoice to send and, when it carries a ship
    date, the RSX shipment it confirms; or the invoice quarantined with the reason. Each read is
    a revision (SyncToken the version): an edit goes out as a replacement."""
    number = invoice_number(inv)
    base = dict(natural_key=number, source_ref=f"Invoice:{inv.id}",
                raw_payload=inv.model_dump_json(by_alias=True, exclude_none=True).encode(),
                doc_date=inv.txn_date.isoformat() if inv.txn_date else None,
                effect=qbo_effect(inv), source_version=qbo_version(inv))
    try:
        partner = partner_for_qbo_invoice(inv, mapping)
        qbo_invoice_to_rsx(inv, mapping)  # validate now: a bad invoice is quarantined at once
    except BadDocument as exc:
        customer = inv.customer_ref.value if inv.customer_ref else ""
        return [Incoming(doc_type="invoice", partner=f"customer:{customer}", **base, status=QUARANTINED,
                         error_class=exc.classification, last_error=one_line(exc))]
    fmt = mapping.outbound.invoice_format
    rows = [Incoming(doc_type="invoice", partner=partner, **base, status=RECEIVED,
                     target_ref=outbox_path("invoice", partner, number, fmt))]
    if is_shipment(inv):  # the same lines validated above: the shipment maps too
        rows.append(Incoming(doc_type="shipment", partner=partner, **base, status=RECEIVED,
                             target_ref=outbox_path("shipment", partner, number, fmt)))
    return rows


def cancellation_rows(inv: Invoice, recorded: list) -> list[Incoming]:
    """A deleted or voided invoice cancels every document recorded for it (its invoice and the
    shipment it confirmed), each under its own key, with the content last recorded for it."""
    return [Incoming(doc_type=r.doc_type, partner=r.partner, natural_key=r.natural_key, source_ref=r.source_ref,
                     raw_payload=qbo_cancellation(r.raw_payload or b"{}", inv), target_ref=r.target_ref,
                     doc_date=r.doc_date, effect=CANCEL, source_version=qbo_version(inv))
            for r in recorded]


def render(mapping: TenantMapping) -> Callable[[str, bytes], bytes | None]:
    """What a recorded payload sends as an original (None when it does not map): two contents
    rendering alike differ in nothing the retailer receives."""
    def rendered(doc_type: str, raw: bytes) -> bytes | None:
        try:
            inv = Invoice.model_validate_json(raw)
            doc = qbo_shipment_to_rsx(inv, mapping) if doc_type == "shipment" else qbo_invoice_to_rsx(inv, mapping)
        except (BadDocument, ValueError):
            return None
        return rsx.encode_xml("shipment" if doc_type == "shipment" else "invoice", [doc])
    return rendered


def to_rows(run: Run, page: Page) -> Batch:
    """Invoices (and the shipments they confirm), keyed by partner and invoice number per
    document type. A deleted or voided invoice cancels what was recorded for it; one never
    recorded has nothing to cancel (a voided one is recorded as a cancellation, skipped)."""
    mapping = effective_mapping(run.resources)
    cancelled = [f"Invoice:{inv.id}" for inv in page.items if qbo_effect(inv) == CANCEL]
    recorded: dict[str, list] = {}
    for row in recorded_documents(run.ledger, run.integration, source_refs=cancelled):
        recorded.setdefault(row.source_ref, []).append(row)
    rows: list[Incoming] = []
    for inv in page.items:
        known = recorded.get(f"Invoice:{inv.id}") if qbo_effect(inv) == CANCEL else None
        if known:
            rows += cancellation_rows(inv, known)
        elif not inv.deleted:
            rows += invoice_rows(inv, mapping)
    return Batch(rows=drop_unseen_changes(run.ledger, run.integration, rows, render(mapping)))


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    return find_uploads(run.ledger, run.integration, stale, left)


def report(run: Run) -> dict:
    return delivery_report(run.tenant, run.integration, run.run_id, run.posted)


PIPELINE = Pipeline(name=OUTBOUND, read=read, to_rows=to_rows, post=send_invoices, find=find, cursor_name=CURSOR,
                    reconcile=Reconciliation("reconcile_qbo", "qbo_sps_frames"),
                    inbox=InboxSource(QBO, read_named), report=report, resend=sps_new_file, preview=preview_invoice)
