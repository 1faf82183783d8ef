"""Prefect tasks for SPS Commerce <-> QuickBooks Online: post purchase orders, read invoices,
send invoices and shipments. The pipelines (pipelines/sps_qbo.py, pipelines/qbo_sps.py) say how
a run uses them; the mappings (mappings/sps_to_qbo.py, mappings/qbo_to_sps.py) what a document
becomes. Both directions map with :func:`effective_mapping`: the tenant file plus the vendor and
item links the master-data sync recorded.

Every QBO write carries a ``requestid`` derived from the ledger's idempotency key (a batch of
creates: a UUID5 of its documents' keys), so the retry of a write whose answer was lost
replays QBO's first answer instead of writing twice; before creating, the DocNumbers of the
documents to post are looked up (``DocNumber IN (...)``, 100 per query, once per post rather
than once per batch of 30), so a PO that exists already (an earlier lost answer under another
batch, or one keyed in by hand) is updated with its current SyncToken, or left alone when equal.

Every QBO request takes the company's Prefect limits first (runtime/qbo_limits.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import RejectedError
from ..connectors.qbo import BatchOp, Invoice, PurchaseOrder, QboClient, StaleObject
from ..connectors.qbo.client import MAX_BATCH, quote_literal
from ..connectors.sps import rsx
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed
from ..mappings.qbo_to_sps import qbo_invoice_to_rsx, qbo_shipment_to_rsx
from ..mappings.sps_to_qbo import remap_order, same_po
from ..mappings.tenant import TenantMapping
from ..runtime.tenant import tenant as tenant_resources
from .qbo_master import effective_mapping
from .retry import retry_options
from .sps import outbox_path, send_to_sps

log = logging.getLogger("ml_connector.tasks.qbo")

INBOUND, OUTBOUND = "sps-qbo", "qbo-sps"
LOOKUP = 100  # DocNumbers per existing-PO query (one IN list; QBO's URL and grammar take it)


# -- inbound: SPS orders -> QBO purchase orders ------------------------------------------

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
    # A later batch of the same post with the same DocNumber (another partner's PO number)
    # must see this PO, as a per-batch lookup would have.
    if isinstance(made, PurchaseOrder) and made.doc_number and made.doc_number not in existing:
        existing[made.doc_number] = made


@task(cache_policy=NO_CACHE, **retry_options())
def post_purchase_orders(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Post the ledger documents ``ids`` as QBO purchase orders, 30 per batch, reusing the POs
    mapped at ingest when given (``payloads`` by (doc_type, partner, natural_key)); existing POs
    are looked up once for all of ``ids`` (100 DocNumbers per query) before the first batch."""
    res = tenant_resources(tenant)
    mapping, pos = effective_mapping(res), payloads or {}
    numbers = [r.target_ref for r in res.ledger.documents(INBOUND, ids=ids, status=RECEIVED) if r.target_ref]
    existing = find_pos(res.qbo(), numbers) if numbers else {}

    def build(c: Claimed) -> PurchaseOrder:
        po = pos.get((c.doc_type, c.partner, c.natural_key))
        return po if po is not None else remap_order(c, mapping)

    return post_documents(res.ledger, INBOUND, ids, run_id, build=build,
                          write=lambda prepared: write_pos(res.qbo(), prepared, existing), batch_size=MAX_BATCH)


# -- outbound: QBO invoices -> SPS ---------------------------------------------------------

@task(cache_policy=NO_CACHE, **retry_options())
def read_changed_invoices(tenant: str, since: datetime, use_query: bool = False) -> list[Invoice]:
    """Invoices changed since ``since``: CDC, or a query on LastUpdatedTime for a backfill
    older than CDC's window and when CDC hits its 1000-object cap."""
    client = tenant_resources(tenant).qbo()
    if not use_query:
        result = client.cdc(["Invoice"], since)
        if not result.capped:
            return [o for o in result.changed("Invoice")]  # type: ignore[misc]
        log.warning("QBO CDC returned its 1000-object cap; reading invoices with a query instead")
    where = f"Metadata.LastUpdatedTime >= '{since.isoformat()}'"
    return list(client.iter_query("Invoice", where, order_by="Metadata.LastUpdatedTime"))  # type: ignore[arg-type]


@task(cache_policy=NO_CACHE, **retry_options())
def read_invoices(tenant: str, invoice_ids: list[str]) -> list[Invoice]:
    """The invoices named by webhook notifications (a vanished one is skipped)."""
    client = tenant_resources(tenant).qbo()
    out = []
    for start in range(0, len(invoice_ids), 100):
        chunk = ", ".join(quote_literal(i) for i in invoice_ids[start:start + 100])
        out += list(client.iter_query("Invoice", f"Id IN ({chunk})"))
    return out  # type: ignore[return-value]


def build_invoice(c: Claimed, mapping: TenantMapping) -> tuple[str, bytes]:
    """The SPS path and RSX bytes of one outbound invoice or shipment."""
    inv = Invoice.model_validate_json(c.raw_payload or b"{}")
    fmt = mapping.outbound.invoice_format
    doc_type = "shipment" if c.doc_type == "shipment" else "invoice"
    doc = qbo_shipment_to_rsx(inv, mapping) if doc_type == "shipment" else qbo_invoice_to_rsx(inv, mapping)
    content = rsx.encode_json(doc_type, doc) if fmt == "json" else rsx.encode_xml(doc_type, [doc])
    return c.target_ref or outbox_path(doc_type, c.partner, c.natural_key, fmt), content


@task(cache_policy=NO_CACHE, **retry_options())
def send_invoices(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Upload the outbound invoices and shipments ``ids`` to SPS's in/ folder (deterministic
    paths; one whose earlier upload may have arrived is looked for in SPS first, tasks/sps.upload).
    Built from the ledger's payloads: ``payloads`` is the pipeline's hand-over, unused here."""
    res = tenant_resources(tenant)
    mapping = effective_mapping(res)
    return send_to_sps(tenant, res.ledger, OUTBOUND, ids, run_id, build=lambda c: build_invoice(c, mapping))
