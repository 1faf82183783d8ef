"""SPS RSX files as ledger rows: unwrap, route and map each document of a file. Pure.

Every file becomes rows: a document that posts, one routed nowhere (skipped), or one that
cannot be read or mapped (quarantined, with its raw bytes and the one-line reason). Nothing
read is ever dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from ..connectors.errors import BadDocument, one_line
from ..connectors.intacct.models import ApBill
from ..connectors.sps import rsx
from ..connectors.sps.models import RsxInvoice, RsxOrder, RsxShipment, natural_key
from ..ledger.keys import payload_hash
from ..ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Incoming
from ..settings import max_document_bytes
from .identifiers import identifier
from .intacct_bill_revisions import SALES_ORDER, BillWrite, NeedsPerson, purpose_effect, sales_order_ref
from .sps_to_intacct import bill_identity, route, rsx_to_apbill, rsx_to_salesorder
from .tenant import TenantMapping


def doc_date(doc) -> date:
    if isinstance(doc, RsxInvoice):
        return doc.header.invoice_header.invoice_date
    if isinstance(doc, RsxShipment):
        return doc.header.shipment_header.ship_date
    return doc.header.order_header.purchase_order_date


def unwrap(path: str, content: bytes, mapping: TenantMapping) -> tuple[list[Incoming], dict]:
    """One file -> ledger rows (and what the rows that will post write). Pure.

    Each row carries the effect its purpose code asks for (mappings/intacct_bill_revisions.py);
    each payload is ``(payload_hash(content), BillWrite)``, so the post step uses it only for the
    content it claims (a page may hold two contents of one document)."""
    effects: dict[tuple[str, str, str], str] = {}
    digest = payload_hash(content) or ""

    def to_bill(doc_type: str, partner: str, doc) -> tuple[tuple[str, BillWrite], str] | str:
        if doc_type not in ("order", "invoice", "shipment") or route(doc_type, partner, mapping) == "skip":
            return f"{doc_type} is routed nowhere for {partner}"
        number = natural_key(doc_type, doc)[1]
        effect = purpose_effect(doc_type, number, _header(doc).tset_purpose_code)
        effects[(doc_type, partner, number)] = effect
        write = mapped_write(doc_type, partner, number, doc, effect, mapping)
        ref = sales_order_ref(write.record_id) if write.kind == SALES_ORDER else f"{write.vendor_id}:{write.record_id}"
        return (digest, write), ref

    rows, payloads = file_rows(path, content, to_bill)
    return [replace(r, effect=effects[key]) if r.status == RECEIVED and (key := (r.doc_type, r.partner, r.natural_key))
            in effects else r for r in rows], payloads


def mapped_write(doc_type: str, partner: str, number: str, doc, effect: str, mapping: TenantMapping) -> BillWrite:
    """What one document's content writes: its AP bill, or its sales order when the tenant routes
    the partner's orders there; a cancellation maps only the identity (its lines may no longer map)."""
    if route(doc_type, partner, mapping) == SALES_ORDER:
        customer = mapping.partners[partner].customer_id or ""
        if effect == "cancel":
            doc_id = f"{mapping.partners[partner].so_transaction_type}-{identifier(number, 'order number')}"
            return BillWrite(effect, customer, doc_id, kind=SALES_ORDER)
        so = rsx_to_salesorder(doc, mapping)
        return BillWrite(effect, customer, so.doc_id, so=so, kind=SALES_ORDER)
    if effect == "cancel":
        vendor, record_id = bill_identity(doc_type, partner, number, mapping)
        return BillWrite(effect, vendor, record_id)
    bill = rsx_to_apbill(doc_type, doc, mapping)
    return BillWrite(effect, bill.vendor_id, bill.record_id, bill)


def _header(doc):
    if isinstance(doc, RsxInvoice):
        return doc.header.invoice_header
    if isinstance(doc, RsxShipment):
        return doc.header.shipment_header
    return doc.header.order_header


def file_rows(path: str, content: bytes, target: Callable[[str, str, Any], tuple[Any, str | None] | str]
              ) -> tuple[list[Incoming], dict]:
    """One SPS file -> ledger rows, and the payloads of the rows that will post by (doc_type,
    partner, natural_key). ``target(doc_type, partner, doc)`` maps one document: its payload and
    target ref, or the reason it is routed nowhere (skipped); a :class:`BadDocument` it raises
    quarantines the document with the reason, and a file that cannot be read is one quarantined
    row with its bytes. Pure."""
    try:
        docs = rsx.parse(content, filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    except BadDocument as exc:
        digest = hashlib.sha256(content).hexdigest()[:16]
        return [Incoming("unreadable", "", f"{path}#{digest}", path, content, status=QUARANTINED,
                         error_class=exc.classification, last_error=one_line(exc))], {}
    rows, payloads = [], {}
    for index, (doc_type, doc) in enumerate(docs):
        partner, number = natural_key(doc_type, doc)
        ref = path if len(docs) == 1 else f"{path}#{index}"
        base = dict(doc_type=doc_type, partner=partner, natural_key=number, source_ref=ref,
                    raw_payload=content, doc_date=doc_date(doc).isoformat())
        try:
            mapped = target(doc_type, partner, doc)
        except BadDocument as exc:
            rows.append(Incoming(**base, status=QUARANTINED, error_class=exc.classification, last_error=one_line(exc)))
            continue
        if isinstance(mapped, str):
            rows.append(Incoming(**base, status=SKIPPED, last_error=mapped))
            continue
        payload, target_ref = mapped
        rows.append(Incoming(**base, status=RECEIVED, target_ref=target_ref))
        payloads[(doc_type, partner, number)] = payload
    return rows, payloads


def refused_row(f) -> Incoming:
    """The quarantined row of a file refused at download (``f.refused``: over the size limit;
    ``f``: tasks/sps.FetchedFile). No bytes were
    kept, so the key is the path alone: the same file read again (its delete failed) is a
    duplicate, not a second row."""
    return Incoming("unreadable", "", f"{f.path}#refused", f.path, None, status=QUARANTINED,
                    error_class=BadDocument.classification, last_error=f.refused)


def remap(raw_payload: bytes, source_ref: str,
          mapping: TenantMapping) -> tuple[str, RsxOrder | RsxInvoice | RsxShipment, ApBill]:
    """Parse and map a stored document again (pending documents, replays after a fix)."""
    path, _, index = source_ref.partition("#")
    docs = rsx.parse(raw_payload, filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    doc_type, doc = docs[int(index) if index else 0]
    return doc_type, doc, rsx_to_apbill(doc_type, doc, mapping)


def remap_write(raw_payload: bytes | None, source_ref: str, mapping: TenantMapping) -> BillWrite:
    """What a stored content writes, mapped again from its raw RSX (the page's mapping was not
    kept, or it was of another content of the document)."""
    path, _, index = source_ref.partition("#")
    docs = rsx.parse(raw_payload or b"", filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    doc_type, doc = docs[int(index) if index else 0]
    partner, number = natural_key(doc_type, doc)
    return mapped_write(doc_type, partner, number, doc, purpose_effect(doc_type, number, _header(doc).tset_purpose_code),
                        mapping)


def sink_effect(c: Claimed) -> str:
    """What the write of a claimed revision does in Intacct: a resend of a bill that is there
    rewrites it (an update: a second create would double it); a change of nothing there creates."""
    if c.resend and c.target_id:
        return "update"
    if c.effect in ("update", "replace") and not c.target_id:
        return "create"
    return c.effect


def claimed_write(c: Claimed, payload: tuple[str, BillWrite] | None, mapping: TenantMapping) -> BillWrite:
    """The write of a claimed revision: the page's mapping when it is of this very content, else
    the content mapped again; with the effect the sink must apply."""
    mapped = payload[1] if payload is not None and payload[0] == payload_hash(c.raw_payload) else \
        remap_write(c.raw_payload, c.source_ref, mapping)
    effect = sink_effect(c)
    if effect == "cancel":
        return replace(mapped, effect=effect, bill=None, so=None)
    if mapped.bill is None and mapped.so is None:
        raise NeedsPerson(f"bill {mapped.record_id} of vendor {mapped.vendor_id}: the content to write is a "
                          f"cancellation but Intacct must {effect} the bill: apply it in Intacct by hand",
                          system="mapping", operation="sps-intacct", code="cancel-as-write")
    return replace(mapped, effect=effect)


def in_window(row: Incoming, since: date | None, until: date | None) -> bool:
    if row.doc_date is None:
        return since is None and until is None
    day = date.fromisoformat(row.doc_date)
    return (since is None or day >= since) and (until is None or day < until)
