"""Prefect tasks for SPS Commerce <-> QuickBooks Online.

Inbound (``sps-qbo``): RSX orders read from SPS become QBO purchase orders. Outbound
(``qbo-sps``): QBO invoices found by CDC or named by a webhook notification become RSX
invoices in SPS's ``in/``, and those with a ship date also RSX shipments (ASNs; see
mappings/qbo_to_sps.py for what a QBO shipment confirmation is). Webhook notifications are
ledger documents of ``qbo-webhook``. Both directions map with :func:`effective_mapping`: the
tenant file plus the vendor and item links the master-data sync recorded.

Every QBO write carries a ``requestid`` derived from the ledger's idempotency key (a batch of
creates: a UUID5 of its documents' keys), so the retry of a write whose answer was lost
replays QBO's first answer instead of writing twice; before creating, the DocNumbers of the
whole page are looked up (``DocNumber IN (...)``, 100 per query, once per page rather than
once per batch of 30), so a PO that exists already (an earlier lost answer under another
batch, or one keyed in by hand) is updated with its current SyncToken, or left alone when equal.

Every QBO request takes the company's Prefect limits first (runtime/qbo_limits.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import BadDocument, IntegrationError, NotFound, RejectedError
from ..connectors.qbo import BatchOp, Invoice, PurchaseOrder, QboClient, StaleObject
from ..connectors.qbo.client import quote_literal
from ..connectors.sps import rsx
from ..connectors.sps.models import natural_key
from ..ledger.schema import POSTED, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Incoming, Outcome
from ..mappings.qbo_to_sps import (
    invoice_number, is_shipment, partner_for_qbo_invoice, qbo_invoice_to_rsx, qbo_shipment_to_rsx,
)
from ..mappings.sps_to_qbo import order_to_po, routed, same_po
from ..mappings.tenant import TenantMapping
from ..runtime.clients import qbo_client
from ..runtime.tenant import tenant as tenant_resources
from ..settings import intent_lease_seconds, max_document_bytes
from ..mappings.sps_rows import doc_date, refused_row
from ..engine.posting import Prepared, WriteResult, one_line, post_documents
from .qbo_master import effective_mapping
from .retry import retry_options
from .sps import FetchedPage, outbox_path, send_to_sps

log = logging.getLogger("ml_connector.tasks.qbo")

INBOUND, OUTBOUND, WEBHOOK = "sps-qbo", "qbo-sps", "qbo-webhook"
BATCH = 30  # QBO's batch maximum: one request creates up to 30 purchase orders
LOOKUP = 100  # DocNumbers per existing-PO query (one IN list; QBO's URL and grammar take it)
CDC_WINDOW = timedelta(days=30)


# -- inbound: SPS orders -> QBO purchase orders ------------------------------------------

@dataclass
class OrderReport:
    new_ids: list[int] = field(default_factory=list)
    consumed: list[str] = field(default_factory=list)


def unwrap_orders(path: str, content: bytes, mapping: TenantMapping) -> list[Incoming]:
    """One SPS file -> ledger rows: orders to post (validated now), the rest skipped or
    quarantined with the one-line reason. Pure."""
    import hashlib

    try:
        docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    except BadDocument as exc:
        digest = hashlib.sha256(content).hexdigest()[:16]
        return [Incoming("unreadable", "", f"{path}#{digest}", path, content, status=QUARANTINED,
                         error_class=exc.classification, last_error=one_line(exc))]
    rows = []
    for index, (doc_type, doc) in enumerate(docs):
        partner, number = natural_key(doc_type, doc)
        base = dict(doc_type=doc_type, partner=partner, natural_key=number, raw_payload=content,
                    source_ref=path if len(docs) == 1 else f"{path}#{index}", doc_date=doc_date(doc).isoformat())
        if not routed(doc_type):
            rows.append(Incoming(**base, status=SKIPPED, last_error=f"{doc_type} is routed nowhere in sps-qbo"))
            continue
        try:
            po = order_to_po(doc, mapping)
        except BadDocument as exc:
            rows.append(Incoming(**base, status=QUARANTINED, error_class=exc.classification, last_error=one_line(exc)))
            continue
        rows.append(Incoming(**base, status=RECEIVED, target_ref=po.doc_number))
    return rows


def remap_order(c: Claimed, mapping: TenantMapping) -> PurchaseOrder:
    path, _, index = c.source_ref.partition("#")
    docs = rsx.parse(c.raw_payload or b"", filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    return order_to_po(docs[int(index) if index else 0][1], mapping)


# Never cached (as in tasks/sps.py): every task here reads live data or changes the ledger,
# QBO or SPS, and the default policy would cloudpickle whole pages only to compute a key.
@task(cache_policy=NO_CACHE)
def ingest_orders(tenant: str, page: FetchedPage, run_id: str) -> OrderReport:
    """Record a fetched SPS page in the ledger; return the ids to post and the files to consume."""
    res = tenant_resources(tenant)
    rows, report, mapping = [], OrderReport(), effective_mapping(res)
    for f in page.files:
        rows += [refused_row(f)] if f.refused else unwrap_orders(f.path, f.content, mapping)
        report.consumed.append(f.path)
    report.new_ids = res.ledger.ingest(INBOUND, rows, run_id).new_ids
    return report


def find_pos(client: QboClient, numbers: list[str]) -> dict[str, PurchaseOrder]:
    """Existing purchase orders by DocNumber (one query per 100 numbers); the first of each."""
    found: dict[str, PurchaseOrder] = {}
    for po in _query_pos(client, numbers):
        if po.doc_number not in found:
            found[po.doc_number] = po  # type: ignore[index]
    return found


def find_vendor_pos(client: QboClient, numbers: list[str]) -> dict[tuple[str, str | None], PurchaseOrder]:
    """Existing purchase orders by (DocNumber, vendor id): what identifies one of ours, since
    another vendor's PO may carry the same number."""
    return {(po.doc_number, po.vendor_ref.value if po.vendor_ref else None): po  # type: ignore[misc]
            for po in _query_pos(client, numbers)}


def _query_pos(client: QboClient, numbers: list[str]):
    unique = sorted(set(n for n in numbers if n))
    for start in range(0, len(unique), LOOKUP):
        chunk = ", ".join(quote_literal(n) for n in unique[start:start + LOOKUP])
        for po in client.iter_query("PurchaseOrder", f"DocNumber IN ({chunk})"):
            if po.doc_number:
                yield po


def update_po(client: QboClient, existing: PurchaseOrder, wanted: PurchaseOrder, key: str) -> WriteResult:
    """Sparse update (vendor, dates, memo, all lines) with the current SyncToken; on a stale
    SyncToken (5010) re-read by Id and retry once, under a new requestid (QBO would replay the
    stale answer for the old one)."""
    body = wanted.to_qbo() | {"Id": existing.id, "SyncToken": existing.sync_token}
    try:
        return WriteResult(ok=True, target_id=client.update("PurchaseOrder", body, request_id=key).id)
    except StaleObject:
        current = client.read("PurchaseOrder", existing.id or "")
        log.info("PO %s changed in QBO meanwhile (stale SyncToken): retrying once with SyncToken %s",
                 wanted.doc_number, current.sync_token)
        body["SyncToken"] = current.sync_token
        try:
            return WriteResult(ok=True, target_id=client.update("PurchaseOrder", body, request_id=f"{key}-s1").id)
        except RejectedError as exc:
            return WriteResult(ok=False, error=exc)
    except RejectedError as exc:
        return WriteResult(ok=False, error=exc)


def batch_request_id(keys: list[str]) -> str:
    """One requestid for a batch of creates: the same documents give the same id (36 chars)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mlc-qbo-batch:" + "|".join(sorted(keys))))


def write_pos(client: QboClient, prepared: list[Prepared[PurchaseOrder]],
              existing: dict[str, PurchaseOrder] | None = None) -> list[WriteResult]:
    """Create or update the purchase orders of one batch; one result per document.

    ``existing``: the page's POs by DocNumber, looked up once for the page (and kept current
    with what this function creates); without it, the batch's numbers are looked up here."""
    if existing is None:
        existing = find_pos(client, [p.payload.doc_number or "" for p in prepared])
    results: list[WriteResult | None] = [None] * len(prepared)
    creates = []
    for n, p in enumerate(prepared):
        found = existing.get(p.payload.doc_number or "")
        if found is None:
            creates.append(n)
        elif (found.vendor_ref.value if found.vendor_ref else None) != p.payload.vendor_ref.value:  # type: ignore[union-attr]
            results[n] = WriteResult(ok=False, error=RejectedError(
                f"DocNumber {p.payload.doc_number} belongs to a PO of another QBO vendor ({found.id})",
                system="qbo", operation="purchaseorder", code="docnumber-taken"))
        elif same_po(found, p.payload):
            results[n] = WriteResult(ok=True, target_id=found.id)
        else:
            results[n] = update_po(client, found, p.payload, p.claimed.idempotency_key)
    if len(creates) == 1:
        p = prepared[creates[0]]
        try:
            made = client.create("PurchaseOrder", p.payload, request_id=p.claimed.idempotency_key)
            results[creates[0]] = WriteResult(ok=True, target_id=made.id)
            _remember(existing, made)
        except RejectedError as exc:
            results[creates[0]] = WriteResult(ok=False, error=exc)
    elif creates:
        ops = [BatchOp("create", "PurchaseOrder", prepared[n].payload, b_id=f"b{k}") for k, n in enumerate(creates)]
        rid = batch_request_id([prepared[n].claimed.idempotency_key for n in creates])
        for n, answer in zip(creates, client.batch(ops, request_id=rid), strict=True):
            results[n] = WriteResult(ok=True, target_id=answer.object.id if answer.object else None) if answer.ok \
                else WriteResult(ok=False, error=answer.error("create"))
            if answer.ok and answer.object is not None:
                _remember(existing, answer.object)
    return results  # type: ignore[return-value]


def _remember(existing: dict[str, PurchaseOrder], made) -> None:
    # A later batch of the same page with the same DocNumber (another partner's PO number)
    # must see this PO, as a per-batch lookup would have.
    if isinstance(made, PurchaseOrder) and made.doc_number and made.doc_number not in existing:
        existing[made.doc_number] = made


@task(cache_policy=NO_CACHE, **retry_options())
def post_purchase_orders(tenant: str, ids: list[int], run_id: str) -> dict[str, int]:
    """Post the ledger documents ``ids`` as QBO purchase orders, 30 per batch; existing POs are
    looked up once for all of ``ids`` (100 DocNumbers per query) before the first batch."""
    res = tenant_resources(tenant)
    mapping = effective_mapping(res)
    numbers = [r.target_ref for r in res.ledger.documents(INBOUND, ids=ids, status=RECEIVED) if r.target_ref]
    existing = find_pos(qbo_client(res), numbers) if numbers else {}
    return post_documents(res.ledger, INBOUND, ids, run_id, build=lambda c: remap_order(c, mapping),
                          write=lambda prepared: write_pos(qbo_client(res), prepared, existing), batch_size=BATCH)


@task(cache_policy=NO_CACHE, **retry_options())
def resolve_po_intents(tenant: str, run_id: str, finished_runs: list[str], lease: timedelta | None = None) -> dict:
    """Settle documents a dead run left between intent and outcome: a PO found in QBO by its
    DocNumber on its own vendor -> posted; not found -> received again (same requestid next
    time, and the post step decides what a same-numbered PO of another vendor means)."""
    res = tenant_resources(tenant)
    stale = res.ledger.stale_intents(INBOUND, run_ids=finished_runs, older_than=lease, claimer=run_id)
    if not stale:
        return {"resolved_posted": 0, "resolved_requeued": 0}
    mapping = effective_mapping(res)
    found = find_vendor_pos(qbo_client(res), [c.target_ref for c in stale if c.target_ref])
    outcomes = []
    for c in stale:
        po = found.get((c.target_ref, _vendor_of(c, mapping)))
        outcomes.append(Outcome(c.id, POSTED, target_id=po.id) if po is not None else
                        Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not in QBO"))
    res.ledger.record_outcomes(INBOUND, outcomes, run_id)
    posted = sum(1 for o in outcomes if o.status == POSTED)
    return {"resolved_posted": posted, "resolved_requeued": len(stale) - posted}


def _vendor_of(c: Claimed, mapping: TenantMapping) -> str | None:
    try:
        return remap_order(c, mapping).vendor_ref.value  # type: ignore[union-attr]
    except IntegrationError:  # unmappable now: the post step quarantines it with the reason
        return None


# -- outbound: QBO invoices -> SPS ---------------------------------------------------------

def clamp_since(since: datetime, now: datetime) -> datetime:
    """CDC looks back at most 30 days: an older cursor is clamped (and logged)."""
    oldest = now - CDC_WINDOW + timedelta(minutes=5)
    if since < oldest:
        log.warning("QBO CDC cursor %s is older than the 30-day CDC window: clamped to %s; changes before that "
                    "need a backfill run (since=..., read with a query)", since.isoformat(), oldest.isoformat())
        return oldest
    return since


@task(cache_policy=NO_CACHE, **retry_options())
def read_changed_invoices(tenant: str, since: datetime, use_query: bool = False) -> list[Invoice]:
    """Invoices changed since ``since``: CDC, or a query on LastUpdatedTime for a backfill
    older than CDC's window and when CDC hits its 1000-object cap."""
    client = qbo_client(tenant_resources(tenant))
    if not use_query:
        result = client.cdc(["Invoice"], since)
        if not result.capped:
            return [o for o in result.changed("Invoice")]  # type: ignore[misc]
        log.warning("QBO CDC returned its 1000-object cap; reading invoices with a query instead")
    where = f"Metadata.LastUpdatedTime >= '{since.isoformat()}'"
    return list(client.iter_query("Invoice", where, order_by="Metadata.LastUpdatedTime"))  # type: ignore[arg-type]


@task(cache_policy=NO_CACHE, **retry_options())
def take_notifications(tenant: str, run_id: str,
                       finished_runs: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Claim the stored webhook notifications; returns their ledger ids and the invoice Ids they name.

    Claims a run left unfinished are taken back first: at once when that run is over
    (``finished_runs``, as tasks/ops.finished_runs finds them: it crashed or failed between
    taking and finishing them), otherwise after the intent lease. A notification only names
    what to read, so reading it twice is harmless."""
    ledger = tenant_resources(tenant).ledger
    stale = ledger.stale_intents(WEBHOOK, run_ids=finished_runs or (),
                                 older_than=timedelta(seconds=intent_lease_seconds()), claimer=run_id)
    if stale:
        ledger.record_outcomes(WEBHOOK, [Outcome(c.id, RECEIVED, error_class="recovered") for c in stale], run_id)
    claimed = ledger.claim(WEBHOOK, ledger.pending_ids(WEBHOOK, limit=5000), run_id)
    ids = []
    for c in claimed:
        event = json.loads(c.raw_payload or b"{}")
        if event.get("entity") == "Invoice" and event.get("operation") not in ("Delete", "Void"):
            ids.append(str(event["id"]))
    return [c.id for c in claimed], sorted(set(ids))


@task(cache_policy=NO_CACHE, **retry_options())
def read_invoices(tenant: str, invoice_ids: list[str]) -> list[Invoice]:
    """The invoices named by webhook notifications (a vanished one is skipped)."""
    client = qbo_client(tenant_resources(tenant))
    out = []
    for start in range(0, len(invoice_ids), 100):
        chunk = ", ".join(quote_literal(i) for i in invoice_ids[start:start + 100])
        out += list(client.iter_query("Invoice", f"Id IN ({chunk})"))
    return out  # type: ignore[return-value]


@task(cache_policy=NO_CACHE)
def finish_notifications(tenant: str, ids: list[int], run_id: str) -> None:
    """Mark notifications handled once the invoices they name are in the ledger."""
    if ids:
        tenant_resources(tenant).ledger.record_outcomes(WEBHOOK, [Outcome(i, POSTED, target_id="ingested") for i in ids],
                                                        run_id)


def invoice_rows(inv: Invoice, mapping: TenantMapping) -> list[Incoming]:
    """The ledger rows of one QBO invoice: the RSX invoice to send and, when it carries a ship
    date, the RSX shipment it confirms; or the invoice quarantined with the reason."""
    number = invoice_number(inv)
    base = dict(natural_key=number, source_ref=f"Invoice:{inv.id}",
                raw_payload=inv.model_dump_json(by_alias=True, exclude_none=True).encode(),
                doc_date=inv.txn_date.isoformat() if inv.txn_date else None)
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


@task(cache_policy=NO_CACHE)
def ingest_invoices(tenant: str, invoices: list[Invoice], run_id: str) -> list[int]:
    """Record invoices (and the shipments they confirm) in the ledger, keyed by partner and
    invoice number per document type; returns the new ids."""
    res = tenant_resources(tenant)
    mapping = effective_mapping(res)
    live = [inv for inv in invoices if not inv.deleted]
    return res.ledger.ingest(OUTBOUND, [row for inv in live for row in invoice_rows(inv, mapping)], run_id).new_ids


def build_invoice(c: Claimed, mapping: TenantMapping) -> tuple[str, bytes]:
    """The SPS path and RSX bytes of one outbound invoice or shipment."""
    inv = Invoice.model_validate_json(c.raw_payload or b"{}")
    fmt = mapping.outbound.invoice_format
    doc_type = "shipment" if c.doc_type == "shipment" else "invoice"
    doc = qbo_shipment_to_rsx(inv, mapping) if doc_type == "shipment" else qbo_invoice_to_rsx(inv, mapping)
    content = rsx.encode_json(doc_type, doc) if fmt == "json" else rsx.encode_xml(doc_type, [doc])
    return c.target_ref or outbox_path(doc_type, c.partner, c.natural_key, fmt), content


@task(cache_policy=NO_CACHE, **retry_options())
def send_invoices(tenant: str, ids: list[int], run_id: str) -> dict[str, int]:
    """Upload the outbound invoices and shipments ``ids`` to SPS's in/ folder (deterministic
    paths; one whose earlier upload may have arrived is looked for in SPS first, tasks/sps.upload)."""
    res = tenant_resources(tenant)
    mapping = effective_mapping(res)
    return send_to_sps(tenant, res.ledger, OUTBOUND, ids, run_id, build=lambda c: build_invoice(c, mapping))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["INBOUND", "OUTBOUND", "WEBHOOK", "qbo_client", "IntegrationError", "NotFound"]
