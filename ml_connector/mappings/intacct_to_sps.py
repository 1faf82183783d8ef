"""Intacct AR invoice -> RSX Invoice, and a posted RSX Order -> RSX OrderAck. Pure functions.

The AR invoice's customer decides the trading partner (``customer_id`` in the tenant file);
an invoice for a customer no partner claims is rejected, never sent to a guessed partner.
Lines carry our item id as the vendor part number and, when the cross-reference knows it,
the partner's buyer part number and UPC, which is what retail partners match on.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..connectors.errors import BadDocument
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps.models import (
    InvoiceDocHeader,
    InvoiceHeader,
    InvoiceLine,
    InvoiceLineItem,
    LineItemAcknowledgement,
    OrderDocHeader,
    OrderLineItem,
    PaymentTerms,
    RsxInvoice,
    RsxOrder,
    RsxOrderAck,
    Summary,
)
from .identifiers import identifier
from .sps_to_intacct import money
from .tenant import TenantMapping


def partner_for_invoice(inv: ArInvoice, tenant: TenantMapping) -> str:
    """The trading partner an AR invoice goes to, or BadDocument when none is configured."""
    partner_id = tenant.partner_for_customer(inv.customer_id)
    if partner_id is None:
        raise BadDocument(
            f"AR invoice {inv.record_id}: customer {inv.customer_id!r} is not mapped to a trading partner",
            system="mapping", operation="intacct-sps", code="unknown-customer",
        )
    return partner_id


def arinvoice_to_rsx(inv: ArInvoice, tenant: TenantMapping) -> RsxInvoice:
    """The RSX Invoice for one Intacct AR invoice."""
    partner_id = partner_for_invoice(inv, tenant)
    by_item = {x.item_id: x for x in tenant.items}
    lines = []
    for n, line in enumerate(inv.lines or (), start=1):
        xref = by_item.get(line.item_id or "")
        qty = line.quantity or Decimal("1")
        price = line.unit_price if line.unit_price is not None else money(line.amount / qty)
        lines.append(InvoiceLineItem(invoice_line=InvoiceLine(
            line_sequence_number=str(n),
            vendor_part_number=line.item_id,
            buyer_part_number=xref.buyer_part if xref else None,
            consumer_package_code=xref.upc if xref else None,
            invoice_qty=qty, purchase_price=price, extended_item_total=money(line.amount),
        )))
    if not lines:
        raise BadDocument(f"AR invoice {inv.record_id} has no lines", system="mapping", operation="intacct-sps")
    terms = []
    if inv.when_due:
        terms = [PaymentTerms(terms_type="01", terms_net_due_days=(inv.when_due - inv.when_created).days)]
    identifier(inv.record_id, "AR invoice number")
    identifier(inv.po_number or "", "AR invoice PO number")
    header = InvoiceHeader(
        trading_partner_id=partner_id, invoice_number=inv.record_id, invoice_date=inv.when_created,
        purchase_order_number=inv.po_number, invoice_type_code="DR", buyers_currency=inv.currency,
    )
    return RsxInvoice(
        header=InvoiceDocHeader(invoice_header=header, payment_terms=terms),
        line_item=lines,
        summary=Summary(total_amount=money(inv.total), total_line_item_number=len(lines)),
    )


def order_to_orderack(order: RsxOrder, ack_date: date) -> RsxOrderAck:
    """An acknowledgement accepting every line of an order as ordered (BAK02 'AC', ACK01 'IA')."""
    h = order.header.order_header
    header = h.model_copy(update={"acknowledgement_type": "AC", "acknowledgement_date": ack_date, "tset_purpose_code": "00"})
    lines = [
        OrderLineItem(
            order_line=li.order_line,
            line_item_acknowledgement=[LineItemAcknowledgement(
                item_status_code="IA", item_schedule_qty=li.order_line.order_qty,
                item_schedule_u_o_m=li.order_line.order_qty_u_o_m,
            )],
        )
        for li in order.line_item
    ]
    total = sum((li.order_line.order_qty * li.order_line.purchase_price for li in order.line_item), Decimal("0"))
    return RsxOrderAck(
        header=OrderDocHeader(order_header=header, address=order.header.address),
        line_item=lines,
        summary=Summary(total_amount=money(total), total_line_item_number=len(lines)),
    )
