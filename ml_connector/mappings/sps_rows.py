"""SPS RSX files as ledger rows: unwrap, route and map each document of a file. Pure.

Every file becomes rows: a document that posts, one routed nowhere (skipped), or one that
cannot be read or mapped (quarantined, with its raw bytes and the one-line reason). Nothing
read is ever dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any

from ..connectors.errors import BadDocument, one_line
from ..connectors.intacct.models import ApBill
from ..connectors.sps import rsx
from ..connectors.sps.models import RsxInvoice, RsxOrder, RsxShipment, natural_key
from ..ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming
from ..settings import max_document_bytes
from .sps_to_intacct import bill_ref, route, rsx_to_apbill
from .tenant import TenantMapping


def doc_date(doc) -> date:
    if isinstance(doc, RsxInvoice):
        return doc.header.invoice_header.invoice_date
    if isinstance(doc, RsxShipment):
        return doc.header.shipment_header.ship_date
    return doc.header.order_header.purchase_order_date


def unwrap(path: str, content: bytes, mapping: TenantMapping) -> tuple[list[Incoming], dict]:
    """One file -> ledger rows (and the bills of the rows that will post). Pure."""

    def to_bill(doc_type: str, partner: str, doc) -> tuple[ApBill, str] | str:
        if doc_type not in ("order", "invoice", "shipment") or route(doc_type, partner, mapping) == "skip":
            return f"{doc_type} is routed nowhere for {partner}"
        bill = rsx_to_apbill(doc_type, doc, mapping)
        return bill, bill_ref(bill)

    return file_rows(path, content, to_bill)


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


def remap(raw_payload: bytes, source_ref: str, mapping: TenantMapping) -> tuple[str, RsxOrder | RsxInvoice | RsxShipment, ApBill]:
    """Parse and map a stored document again (pending documents, replays after a fix)."""
    path, _, index = source_ref.partition("#")
    docs = rsx.parse(raw_payload, filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    doc_type, doc = docs[int(index) if index else 0]
    return doc_type, doc, rsx_to_apbill(doc_type, doc, mapping)


def in_window(row: Incoming, since: date | None, until: date | None) -> bool:
    if row.doc_date is None:
        return since is None and until is None
    day = date.fromisoformat(row.doc_date)
    return (since is None or day >= since) and (until is None or day < until)
