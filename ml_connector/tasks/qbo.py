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

Revisions (docs/revisions-sps-qbo.md): a change, replacement or cancellation of a PO in QBO is
read by Id first (its SyncToken is the one to update with, and its state says whether it can
take the revision: a received PO, or a closed one for a change, is quarantined for a person),
then written as one update: sparse for a change, full for a replacement, ``POStatus`` Closed for
a cancellation, with the revision's key in ``PrivateNote``. A PO that already carries the key
took that revision before (a lost answer): nothing is written again. A stale SyncToken (5010)
is re-read by Id and retried once; a second one leaves the revision for the next run.

Every QBO request takes the company's Prefect limits first (runtime/qbo_limits.py).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import NotFound, RejectedError, TransientError
from ..connectors.qbo import BatchOp, Invoice, PurchaseOrder, QboClient, StaleObject
from ..connectors.qbo.client import MAX_BATCH, quote_literal
from ..connectors.sps import rsx
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.revisions import CANCEL
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed
from ..mappings.outbound_revisions import with_purpose
from ..mappings.qbo_to_sps import qbo_invoice_to_rsx, qbo_shipment_to_rsx
from ..mappings.sps_to_qbo import (
    CLOSED,
    NeedsPerson,
    carries_revision,
    claimed_po,
    revision_blocker,
    revision_body,
    same_po,
)
from ..mappings.tenant import TenantMapping
from ..runtime.tenant import tenant as tenant_resources
from .qbo_master import effective_mapping
from .retry import retry_options
from .sps import outbox_path, revision_path, send_to_sps

log = logging.getLogger("ml_connector.tasks.qbo")

INBOUND, OUTBOUND = "sps-qbo", "qbo-sps"
LOOKUP = 100  # DocNumbers per existing-PO query (one IN list; QBO's URL and grammar take it)
REVISIONS = ("update", "replace", "cancel")  # the claimed effects written to a PO already in QBO


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


@dataclass(frozen=True)
class PoWrite:
    """One claimed order as QBO should hold it (``po``, mapped) and, for a revision of a PO in
    QBO, that PO as read by Id when the write was prepared (``current``: its SyncToken is the
    one to update with); ``applied`` when it already carries this revision's key."""

    po: PurchaseOrder
    current: PurchaseOrder | None = None
    applied: bool = False


def revision_request_id(key: str, sync_token: str | None) -> str:
    """The requestid of a revision's update of the PO at ``sync_token``: a retry of the same
    write replays QBO's first answer; a write at a newer SyncToken (after a 5010, whose answer
    QBO would replay under the old id) is another request (36 chars)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlc-qbo-revision:{key}:{sync_token}"))


def prepare_revision(client: QboClient, c: Claimed, po: PurchaseOrder) -> PoWrite:
    """Read the PO a revision changes and decide: write it, it is written already, or a person
    must act (:class:`NeedsPerson`, quarantined with the reason)."""
    try:
        current = client.read("PurchaseOrder", c.target_id or "")
    except NotFound:
        if po.po_status == CLOSED:  # deleted in QBO: there is nothing left to close
            return PoWrite(po, PurchaseOrder(id=c.target_id), applied=True)
        raise NeedsPerson(f"PO {po.doc_number} (QBO {c.target_id}) is no longer in QBO: key the change in by hand",
                          system="qbo", operation="purchaseorder", code="po-gone") from None
    assert isinstance(current, PurchaseOrder)
    if carries_revision(current, c.idempotency_key):
        return PoWrite(po, current, applied=True)
    reason = revision_blocker(current, po)
    if reason is not None:
        raise NeedsPerson(reason, system="qbo", operation="purchaseorder", code="po-received")
    return PoWrite(po, current)


def revise_po(client: QboClient, c: Claimed, w: PoWrite) -> WriteResult:
    """Write one revision of the PO ``w.current`` with its SyncToken; on a stale SyncToken (5010)
    re-read it by Id, check again what it can take, and retry once."""
    current = w.current
    assert current is not None
    if w.applied:
        return WriteResult(ok=True, target_id=current.id)
    for attempt in (1, 2):
        body, sparse = revision_body(current, w.po, c.effect, c.idempotency_key)
        try:
            made = client.update("PurchaseOrder", body, request_id=revision_request_id(c.idempotency_key,
                                                                                        current.sync_token),
                                 sparse=sparse)
            return WriteResult(ok=True, target_id=made.id)
        except StaleObject:
            if attempt == 2:
                return WriteResult(ok=False, error=TransientError(
                    f"PO {w.po.doc_number} (QBO {current.id}) changed in QBO again while revision {c.revision} was "
                    "written (stale SyncToken twice): left for the next run", system="qbo", operation="purchaseorder"))
            current = client.read("PurchaseOrder", current.id or "")  # type: ignore[assignment]
            log.info("PO %s changed in QBO meanwhile (stale SyncToken): retrying once with SyncToken %s",
                     w.po.doc_number, current.sync_token)
            if carries_revision(current, c.idempotency_key):
                return WriteResult(ok=True, target_id=current.id)
            reason = revision_blocker(current, w.po)
            if reason is not None:
                return WriteResult(ok=False, error=NeedsPerson(reason, system="qbo", operation="purchaseorder",
                                                               code="po-received"))
        except RejectedError as exc:
            return WriteResult(ok=False, error=exc)
    raise AssertionError("unreachable")


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


def _vendor(po: PurchaseOrder) -> str | None:
    return po.vendor_ref.value if po.vendor_ref else None


def _remember(existing: dict[str, PurchaseOrder], made) -> None:
    # A later batch of the same post with the same DocNumber (another partner's PO number)
    # must see this PO, as a per-batch lookup would have.
    if isinstance(made, PurchaseOrder) and made.doc_number and made.doc_number not in existing:
        existing[made.doc_number] = made


def write_all(client: QboClient, prepared: list[Prepared[PoWrite]],
              existing: dict[str, PurchaseOrder] | None = None) -> list[WriteResult]:
    """One batch: revisions of POs in QBO written one by one (each its own update), the rest
    created (or updated when found by DocNumber) by :func:`write_pos`; results in order."""
    results: list[WriteResult | None] = [None] * len(prepared)
    creates = []
    for n, p in enumerate(prepared):
        if p.payload.current is not None:
            results[n] = revise_po(client, p.claimed, p.payload)
        else:
            creates.append(n)
    made = write_pos(client, [Prepared(prepared[n].claimed, prepared[n].payload.po) for n in creates], existing) \
        if creates else []
    for n, result in zip(creates, made, strict=True):
        results[n] = result
    return results  # type: ignore[return-value]


@task(cache_policy=NO_CACHE, **retry_options())
def post_purchase_orders(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Post the ledger documents ``ids`` as QBO purchase orders, 30 per batch, reusing the POs
    mapped at ingest when given (``payloads`` by (doc_type, partner, natural_key)); existing POs
    are looked up once for all of ``ids`` (100 DocNumbers per query) before the first batch. A
    revision of a PO in QBO (a change, replacement or cancellation) is read by Id and updated."""
    res = tenant_resources(tenant)
    mapping, pos = effective_mapping(res), payloads or {}
    numbers = [r.target_ref for r in res.ledger.documents(INBOUND, ids=ids, status=RECEIVED) if r.target_ref]
    existing = find_pos(res.qbo(), numbers) if numbers else {}

    def build(c: Claimed) -> PoWrite:
        po = claimed_po(c, pos.get((c.doc_type, c.partner, c.natural_key)), mapping)
        if c.effect in REVISIONS and c.target_id:
            return prepare_revision(res.qbo(), c, po)
        if po.po_status == CLOSED:
            found = existing.get(po.doc_number or "")
            if found is None or _vendor(found) != _vendor(po):
                raise NeedsPerson(f"PO {po.doc_number} is cancelled and not in QBO: nothing to close; "
                                  "leave it, or key it in by hand if the partner meant it", system="qbo",
                                  operation="purchaseorder", code="nothing-to-close")
            return prepare_revision(res.qbo(), replace(c, target_id=found.id), po)
        return PoWrite(po)

    return post_documents(res.ledger, INBOUND, ids, run_id, build=build,
                          write=lambda prepared: write_all(res.qbo(), prepared, existing), batch_size=MAX_BATCH)


# -- outbound: QBO invoices -> SPS ---------------------------------------------------------

@task(cache_policy=NO_CACHE, **retry_options())
def read_changed_invoices(tenant: str, since: datetime, use_query: bool = False) -> list[Invoice]:
    """Invoices changed since ``since``: CDC (deleted ones as its stubs: Id and ``status:
    Deleted``), or a query on LastUpdatedTime for a backfill older than CDC's window and when
    CDC hits its 1000-object cap (a query cannot see deleted invoices)."""
    client = tenant_resources(tenant).qbo()
    if not use_query:
        result = client.cdc(["Invoice"], since)
        if not result.capped:
            return list(result.objects.get("Invoice", []))  # type: ignore[arg-type]
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


def build_invoice(c: Claimed, mapping: TenantMapping) -> tuple[str, bytes | None]:
    """The SPS path and RSX bytes of one write of an outbound invoice or shipment: the
    revision's own path, the purpose its effect calls for (original, replacement, cancellation);
    no bytes for a cancellation of what was never sent."""
    fmt = mapping.outbound.invoice_format
    doc_type = "shipment" if c.doc_type == "shipment" else "invoice"
    if c.target_ref is None:
        c = dataclasses.replace(c, target_ref=outbox_path(doc_type, c.partner, c.natural_key, fmt))
    if c.effect == CANCEL and c.target_id is None:
        return revision_path(c), None
    inv = Invoice.model_validate_json(c.raw_payload or b"{}")
    doc = qbo_shipment_to_rsx(inv, mapping) if doc_type == "shipment" else qbo_invoice_to_rsx(inv, mapping)
    with_purpose(doc, c.effect)
    content = rsx.encode_json(doc_type, doc) if fmt == "json" else rsx.encode_xml(doc_type, [doc])
    return revision_path(c), content


@task(cache_policy=NO_CACHE, **retry_options())
def send_invoices(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Upload the outbound invoices and shipments ``ids`` to SPS's in/ folder (deterministic
    paths; one whose earlier upload may have arrived is looked for in SPS first, tasks/sps.upload).
    Built from the ledger's payloads: ``payloads`` is the pipeline's hand-over, unused here."""
    res = tenant_resources(tenant)
    mapping = effective_mapping(res)
    return send_to_sps(tenant, res.ledger, OUTBOUND, ids, run_id, build=lambda c: build_invoice(c, mapping))
