"""QBO Invoice -> RSX Invoice, and QBO shipment confirmation -> RSX Shipment (ASN). Pure functions.

The invoice's customer decides the trading partner (``qbo.partners.<id>.customer_ref``); an
invoice for a customer no partner claims is rejected (quarantined), never sent to a guessed
partner. Each sales line's QBO item resolves back to our item id (``qbo.items``), then to the
partner's identifiers (buyer part, UPC) through the cross-reference; a QBO item the mapping
does not list rejects the invoice with the item named (the conflict rule in qbo_tenant.py).

**What a QBO "shipment confirmation" is.** QuickBooks Online has no shipment or packing-slip
entity in the Accounting API (reference §B.3 lists none). Shipping is recorded on the sales
form: ``ShipDate``, ``TrackingNum``, ``ShipMethodRef`` (the carrier / ship via) and
``ShipAddr``; these appear on Invoices (and SalesReceipts) once the company turns on shipping
fields. So an Invoice whose ``ShipDate`` is set is the confirmation that its lines shipped on
that day: it becomes one RSX Shipment (856) with

* ``ShipmentIdentification`` = the invoice number (one QBO sales form ships once), ``ShipDate``
  = ``ShipDate``, ``CarrierProNumber`` and a ``References`` entry ``CN`` = ``TrackingNum``
  (its description is the ship method's name), ``ShipTo`` address from ``ShipAddr``;
* one ``OrderLevel`` for the buyer's PO (the invoice custom field ``qbo.po_number_field``,
  else the invoice number), with ``InvoiceNumber``; items hang off the order level (no pack
  level: QBO knows no cartons), ``ShipQty`` = the line quantity.

An invoice first saved without a ship date and edited later to carry one is sent as an invoice
at once and as a shipment when the edit is reported (webhook ``Update`` or CDC); the ledger
keys both by (partner, number) per document type, so each goes out once.

A webhook notification names an invoice to read (:func:`named_invoices`) or one deleted
(:func:`deleted_invoices`); what a delete, a void or an edit sends is in outbound_revisions.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from ..connectors.errors import BadDocument
from ..connectors.qbo.models import Invoice
from ..connectors.sps.models import (
    Address,
    InvoiceDocHeader,
    InvoiceHeader,
    InvoiceLine,
    InvoiceLineItem,
    ItemLevel,
    OrderLevel,
    PaymentTerms,
    Reference,
    RsxInvoice,
    RsxShipment,
    ShipmentDocHeader,
    ShipmentHeader,
    ShipmentLine,
    ShipmentOrderHeader,
    Summary,
)
from ..ledger.store import Claimed
from .identifiers import identifier
from .sps_to_intacct import money
from .sps_to_qbo import qbo_section
from .tenant import TenantMapping

OPERATION = "qbo-sps"


def _bad(message: str, code: str) -> BadDocument:
    return BadDocument(message, system="mapping", operation=OPERATION, code=code)


def invoice_number(inv: Invoice) -> str:
    """The invoice's key: its DocNumber, or ``QBO-<Id>`` when QBO has none."""
    return identifier((inv.doc_number or "").strip(), "QBO invoice DocNumber") or f"QBO-{inv.id}"


def partner_for_qbo_invoice(inv: Invoice, tenant: TenantMapping) -> str:
    customer = inv.customer_ref.value if inv.customer_ref else ""
    partner = qbo_section(tenant).partner_for_customer(customer)
    if partner is None:
        raise _bad(f"QBO invoice {invoice_number(inv)}: customer {customer!r} is not mapped to a trading partner",
                   "unknown-customer")
    return partner


def po_number(inv: Invoice, tenant: TenantMapping) -> str | None:
    """The buyer's PO number from the invoice custom field ``qbo.po_number_field``, if filled."""
    wanted = _squash(qbo_section(tenant).po_number_field)
    for field in inv.custom_field:
        if field.name and _squash(field.name) == wanted and (field.string_value or "").strip():
            return field.string_value.strip()  # type: ignore[union-attr]
    return None


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _lines(inv: Invoice, tenant: TenantMapping) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(our item id, qty, unit price, amount) of each sales line; an unlinked QBO item rejects."""
    qbo, number, out = qbo_section(tenant), invoice_number(inv), []
    for n, line in enumerate(inv.item_lines, start=1):
        detail = line.sales_item_line_detail
        qbo_item = detail.item_ref.value if detail and detail.item_ref else None
        ours = qbo.item_for_qbo(qbo_item) if qbo_item else None
        if ours is None:
            raise _bad(f"QBO invoice {number} line {n}: QBO item {qbo_item!r} is not in the tenant's qbo.items",
                       "unknown-item")
        qty = (detail.qty if detail and detail.qty else None) or Decimal("1")
        amount = Decimal(str(line.amount or 0))
        price = detail.unit_price if detail and detail.unit_price is not None else money(amount / qty)
        out.append((ours, qty, price, amount))
    if not out:
        raise _bad(f"QBO invoice {number} has no item lines", "empty")
    if inv.txn_date is None:
        raise _bad(f"QBO invoice {number} has no TxnDate", "no-date")
    return out


def qbo_invoice_to_rsx(inv: Invoice, tenant: TenantMapping) -> RsxInvoice:
    """The RSX Invoice for one QBO invoice, or BadDocument saying why not."""
    partner_id = partner_for_qbo_invoice(inv, tenant)
    by_item = {x.item_id: x for x in tenant.items}
    number = invoice_number(inv)
    lines = []
    for n, (ours, qty, price, amount) in enumerate(_lines(inv, tenant), start=1):
        xref = by_item.get(ours)
        lines.append(InvoiceLineItem(invoice_line=InvoiceLine(
            line_sequence_number=str(n), vendor_part_number=ours,
            buyer_part_number=xref.buyer_part if xref else None,
            consumer_package_code=xref.upc if xref else None,
            invoice_qty=qty, purchase_price=price, extended_item_total=money(amount),
        )))
    assert inv.txn_date is not None  # _lines checked it
    terms = []
    if inv.due_date:
        terms = [PaymentTerms(terms_type="01", terms_net_due_days=(inv.due_date - inv.txn_date).days)]
    total = Decimal(str(inv.total_amt)) if inv.total_amt is not None else sum(
        (li.invoice_line.extended_item_total or Decimal(0) for li in lines), Decimal(0))
    header = InvoiceHeader(trading_partner_id=partner_id, invoice_number=number, invoice_date=inv.txn_date,
                           purchase_order_number=po_number(inv, tenant), invoice_type_code="DR",
                           buyers_currency=tenant.partners[partner_id].currency)
    return RsxInvoice(header=InvoiceDocHeader(invoice_header=header, payment_terms=terms), line_item=lines,
                      summary=Summary(total_amount=money(total), total_line_item_number=len(lines)))


def is_shipment(inv: Invoice) -> bool:
    """Whether a QBO invoice confirms a shipment (its ShipDate is set); see the module docstring."""
    return inv.ship_date is not None and not inv.deleted


def qbo_shipment_to_rsx(inv: Invoice, tenant: TenantMapping) -> RsxShipment:
    """The RSX Shipment (ASN) a shipped QBO invoice confirms, or BadDocument saying why not."""
    partner_id = partner_for_qbo_invoice(inv, tenant)
    number = invoice_number(inv)
    if inv.ship_date is None:
        raise _bad(f"QBO invoice {number} has no ShipDate: not a shipment confirmation", "not-shipped")
    by_item = {x.item_id: x for x in tenant.items}
    items = []
    for n, (ours, qty, price, _) in enumerate(_lines(inv, tenant), start=1):
        xref = by_item.get(ours)
        items.append(ItemLevel(shipment_line=ShipmentLine(
            line_sequence_number=str(n), vendor_part_number=ours,
            buyer_part_number=xref.buyer_part if xref else None,
            consumer_package_code=xref.upc if xref else None,
            purchase_price=price, ship_qty=qty)))
    tracking = (inv.tracking_num or "").strip() or None
    carrier = inv.ship_method_ref.name or inv.ship_method_ref.value if inv.ship_method_ref else None
    references = [Reference(reference_qual="CN", reference_id=tracking, description=carrier)] if tracking else []
    address = []
    if inv.ship_addr is not None and (inv.ship_addr.line1 or inv.ship_addr.city):
        a = inv.ship_addr
        address = [Address(address_type_code="ST", address1=a.line1, address2=a.line2, city=a.city,
                           state=a.country_sub_division_code, postal_code=a.postal_code, country=a.country)]
    header = ShipmentHeader(trading_partner_id=partner_id, shipment_identification=number, ship_date=inv.ship_date,
                            ship_notice_date=inv.txn_date, a_s_n_structure_code="0001", carrier_pro_number=tracking)
    order = OrderLevel(order_header=ShipmentOrderHeader(purchase_order_number=po_number(inv, tenant) or number,
                                                         invoice_number=number), item_level=items)
    return RsxShipment(header=ShipmentDocHeader(shipment_header=header, references=references, address=address),
                       order_level=[order], summary=Summary(total_line_item_number=len(items)))


def named_invoices(notifications: Iterable[Claimed]) -> list[str]:
    """The invoice Ids QBO webhook notifications name, to read by Id (a voided invoice is read
    back zeroed and noted "Voided"; a deleted one cannot be read: :func:`deleted_invoices`)."""
    ids = set()
    for c in notifications:
        event = json.loads(c.raw_payload or b"{}")
        if event.get("entity") == "Invoice" and event.get("operation") != "Delete" and event.get("id"):
            ids.add(str(event["id"]))
    return sorted(ids)


def deleted_invoices(notifications: Iterable[Claimed]) -> list[Invoice]:
    """The invoices QBO webhook notifications report deleted, as the stubs CDC gives for them
    (Id and ``status: Deleted``), so a delete cancels what was sent without waiting for CDC."""
    ids = set()
    for c in notifications:
        event = json.loads(c.raw_payload or b"{}")
        if event.get("entity") == "Invoice" and event.get("operation") == "Delete" and event.get("id"):
            ids.add(str(event["id"]))
    return [Invoice.model_validate({"Id": i, "status": "Deleted"}) for i in sorted(ids)]
