"""Intacct AP bills -> X12 810 and purchase orders -> X12 850, enveloped for one partner.

Pure functions: Intacct records (as the gateway renders them, line items included) in, X12
bytes out. The partner's configuration decides identifiers, version and separators; the
caller owns the control numbers (persisted per partner in the ledger).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from ..connectors import x12
from ..connectors.errors import BadDocument
from ..connectors.x12.models import Invoice810, InvoiceLine, OrderLine, Party, ProductId, PurchaseOrder850, Reference
from .identifiers import identifier
from .sterling_config import SterlingSettings

# The record fields each mapping below reads, (header, line): what a revision of a bill or PO is
# made of (mappings/intacct_sterling.content); RECORDNO and VENDORID name and route it.
MAPPED_FIELDS = {
    "810": (("RECORDNO", "RECORDID", "VENDORID", "VENDORNAME", "WHENCREATED", "DOCNUMBER", "CURRENCY",
             "TRX_TOTALENTERED", "TOTALENTERED"), ("TRX_AMOUNT", "AMOUNT", "ITEMID", "ENTRYDESCRIPTION")),
    "850": (("RECORDNO", "DOCNO", "PONUMBER", "DOCPARID", "VENDORID", "WHENCREATED", "CURRENCY"),
            ("ITEMID", "UNIT", "QUANTITY", "PRICE", "ENTRYDESCRIPTION")),
}
_UNITS = {"each": "EA", "ea": "EA", "case": "CA", "box": "BX", "dozen": "DZ", "pound": "LB", "pack": "PK"}


def _bad(msg: str) -> BadDocument:
    return BadDocument(msg, system="intacct", operation="map_x12")


def _date(value: str | None, what: str) -> date:
    try:
        return datetime.strptime((value or "").strip(), "%m/%d/%Y").date()
    except ValueError:
        raise _bad(f"{what} {value!r} is not an Intacct date (MM/DD/YYYY)") from None


def _money(value: str | None, what: str) -> Decimal:
    try:
        return Decimal((value or "").strip())
    except InvalidOperation:
        raise _bad(f"{what} {value!r} is not a number") from None


def _lines(record: dict, container: str) -> list[dict]:
    items = record.get(container) or []
    return items if isinstance(items, list) else [items]


def bill_to_810(bill: dict, purpose: str | None = None) -> Invoice810:
    """An APBILL (with APBILLITEMS) as an 810: one IT1 per bill line, quantity 1 at the amount.
    ``purpose`` is BIG08 (None for an original: the element is left out, as before revisions)."""
    number = identifier((bill.get("RECORDID") or "").strip(), "bill number (RECORDID)")
    if not number:
        raise _bad("the bill has no number (RECORDID)")
    lines = []
    for n, item in enumerate(_lines(bill, "APBILLITEMS"), start=1):
        amount = _money(item.get("TRX_AMOUNT") or item.get("AMOUNT"), f"line {n} amount")
        ids = [ProductId(qualifier="VN", value=item["ITEMID"])] if item.get("ITEMID") else []
        lines.append(InvoiceLine(line_id=str(n), quantity=Decimal(1), uom="EA", unit_price=amount, product_ids=ids,
                                 description=(item.get("ENTRYDESCRIPTION") or None)))
    total = _money(bill.get("TRX_TOTALENTERED") or bill.get("TOTALENTERED"), "bill total")
    try:
        return Invoice810(invoice_date=_date(bill.get("WHENCREATED"), "WHENCREATED"), invoice_number=number,
                          po_number=(bill.get("DOCNUMBER") or None), currency=bill.get("CURRENCY") or None,
                          lines=lines, total=total, purpose=purpose,
                          parties=[Party(entity="VN", name=(bill.get("VENDORNAME") or None), id_qualifier="92",
                                         id=bill.get("VENDORID"))] if bill.get("VENDORID") else [])
    except ValidationError as exc:
        raise _bad(f"bill {number} does not make a valid 810: {exc.errors()[0]['msg']}") from None


def po_to_850(po: dict, purpose: str = "00") -> PurchaseOrder850:
    """A PODOCUMENT (with PODOCUMENTENTRIES) as an 850 stand-alone order; ``purpose`` is BEG01."""
    number = (po.get("DOCNO") or po.get("PONUMBER") or "").strip()
    if not number:
        raise _bad("the purchase order has no number (DOCNO)")
    lines = []
    for n, item in enumerate(_lines(po, "PODOCUMENTENTRIES"), start=1):
        if not item.get("ITEMID"):
            raise _bad(f"purchase order {number} line {n} has no ITEMID")
        unit = _UNITS.get((item.get("UNIT") or "each").strip().lower(), "EA")
        lines.append(OrderLine(line_id=str(n), quantity=_money(item.get("QUANTITY"), f"line {n} quantity"), uom=unit,
                               unit_price=_money(item.get("PRICE"), f"line {n} price"), price_basis="PE",
                               product_ids=[ProductId(qualifier="VN", value=item["ITEMID"])],
                               description=item.get("ENTRYDESCRIPTION") or None))
    if not lines:
        raise _bad(f"purchase order {number} has no lines")
    try:
        return PurchaseOrder850(purpose=purpose, po_type="SA", po_number=number,
                                po_date=_date(po.get("WHENCREATED"), "WHENCREATED"),
                                currency=po.get("CURRENCY") or None, lines=lines,
                                references=[Reference(qualifier="VR", value=po.get("VENDORID"))]
                                if po.get("VENDORID") else [])
    except ValidationError as exc:
        raise _bad(f"purchase order {number} does not make a valid 850: {exc.errors()[0]['msg']}") from None


def document_for(doc_type: str, record: dict, purpose: str | None = None):
    """The X12 document of a bill (810) or PO (850); ``purpose`` is BIG08 / BEG01, None for an original."""
    if doc_type == "810":
        return bill_to_810(record, purpose)
    if doc_type == "850":
        return po_to_850(record, purpose or "00")
    raise _bad(f"no X12 mapping for {doc_type}")


def envelope(doc, settings: SterlingSettings, vendor_id: str, *, interchange: int, group: int, set_control: str,
             at: datetime | None = None) -> bytes:
    """One document as one interchange for the vendor's partner, in the form it asked for."""
    partner = settings.partners.get(vendor_id)
    if partner is None:
        raise _bad(f"vendor {vendor_id} has no Sterling partner in the tenant's sterling section")
    version = settings.version_for(vendor_id)
    ts = x12.encode_document(doc, set_control)
    ic = x12.wrap([ts], sender_id=settings.isa_id, sender_qualifier=settings.isa_qualifier,
                  receiver_id=partner.isa_id, receiver_qualifier=partner.isa_qualifier,
                  app_sender=settings.gs_id or settings.isa_id, app_receiver=partner.gs_id or partner.isa_id,
                  control_number=interchange, group_control_number=group, version=version,
                  separators=partner.separators(version), at=at, usage=settings.usage, ack_requested=False)
    try:
        return x12.encode(ic)
    except (ValueError, BadDocument) as exc:
        raise _bad(f"cannot encode for partner {partner.partner_name}: {exc}") from None


def to_x12(doc_type: str, record: dict, settings: SterlingSettings, *, interchange: int = 1, group: int = 1,
           set_control: str = "0001", at: datetime | None = None) -> bytes:
    """Map and envelope one Intacct record (preview and the delivery task)."""
    vendor = (record.get("VENDORID") or "").strip()
    return envelope(document_for(doc_type, record), settings, vendor, interchange=interchange, group=group,
                    set_control=set_control, at=at)


def preview_document(tenant: str, mapping, content: bytes, name: str) -> str:
    """intacct-sterling's preview (the pipeline's signature): :func:`preview_x12`."""
    return preview_x12(content, mapping, name)


def preview_x12(content: bytes, mapping, name: str = "record") -> str:
    """``ml-connector preview --integration intacct-sterling FILE``: FILE is an APBILL record as
    JSON (APBILLITEMS included), or a PODOCUMENT one (DOCNO, PODOCUMENTENTRIES)."""
    import json

    if mapping.sterling is None:
        raise _bad("the tenant has no sterling: section")
    try:
        record = json.loads(content)
    except ValueError as exc:
        raise _bad(f"{name}: not a JSON record: {exc}") from None
    if not isinstance(record, dict):
        raise _bad(f"{name}: not a JSON object")
    doc_type = "850" if ("DOCNO" in record or "PODOCUMENTENTRIES" in record) else "810"
    return to_x12(doc_type, record, mapping.sterling).decode("latin-1")
