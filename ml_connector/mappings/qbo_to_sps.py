"""QBO Invoice -> RSX Invoice. Pure functions: no I/O.

The invoice's customer decides the trading partner (``qbo.partners.<id>.customer_ref``); an
invoice for a customer no partner claims is rejected (quarantined), never sent to a guessed
partner. Each sales line's QBO item resolves back to our item id (``qbo.items``), then to the
partner's identifiers (buyer part, UPC) through the cross-reference; a QBO item the mapping
does not list rejects the invoice with the item named (the conflict rule in qbo_tenant.py).
"""

from __future__ import annotations

from decimal import Decimal

from ..connectors.errors import BadDocument
from ..connectors.qbo.models import Invoice
from ..connectors.sps.models import (
    InvoiceDocHeader,
    InvoiceHeader,
    InvoiceLine,
    InvoiceLineItem,
    PaymentTerms,
    RsxInvoice,
    Summary,
)
from .sps_to_intacct import money
from .sps_to_qbo import qbo_section
from .tenant import TenantMapping

OPERATION = "qbo-sps"


def _bad(message: str, code: str) -> BadDocument:
    return BadDocument(message, system="mapping", operation=OPERATION, code=code)


def invoice_number(inv: Invoice) -> str:
    """The invoice's key: its DocNumber, or ``QBO-<Id>`` when QBO has none."""
    return (inv.doc_number or "").strip() or f"QBO-{inv.id}"


def partner_for_qbo_invoice(inv: Invoice, tenant: TenantMapping) -> str:
    customer = inv.customer_ref.value if inv.customer_ref else ""
    partner = qbo_section(tenant).partner_for_customer(customer)
    if partner is None:
        raise _bad(f"QBO invoice {invoice_number(inv)}: customer {customer!r} is not mapped to a trading partner",
                   "unknown-customer")
    return partner


def qbo_invoice_to_rsx(inv: Invoice, tenant: TenantMapping) -> RsxInvoice:
    """The RSX Invoice for one QBO invoice, or BadDocument saying why not."""
    partner_id = partner_for_qbo_invoice(inv, tenant)
    qbo = qbo_section(tenant)
    by_item = {x.item_id: x for x in tenant.items}
    number = invoice_number(inv)
    lines = []
    for n, line in enumerate(inv.item_lines, start=1):
        detail = line.sales_item_line_detail
        qbo_item = detail.item_ref.value if detail and detail.item_ref else None
        ours = qbo.item_for_qbo(qbo_item) if qbo_item else None
        if ours is None:
            raise _bad(f"QBO invoice {number} line {n}: QBO item {qbo_item!r} is not in the tenant's qbo.items",
                       "unknown-item")
        xref = by_item.get(ours)
        qty = (detail.qty if detail and detail.qty else None) or Decimal("1")
        amount = Decimal(str(line.amount or 0))
        price = detail.unit_price if detail and detail.unit_price is not None else money(amount / qty)
        lines.append(InvoiceLineItem(invoice_line=InvoiceLine(
            line_sequence_number=str(n), vendor_part_number=ours,
            buyer_part_number=xref.buyer_part if xref else None,
            consumer_package_code=xref.upc if xref else None,
            invoice_qty=qty, purchase_price=price, extended_item_total=money(amount),
        )))
    if not lines:
        raise _bad(f"QBO invoice {number} has no item lines", "empty")
    if inv.txn_date is None:
        raise _bad(f"QBO invoice {number} has no TxnDate", "no-date")
    terms = []
    if inv.due_date:
        terms = [PaymentTerms(terms_type="01", terms_net_due_days=(inv.due_date - inv.txn_date).days)]
    total = Decimal(str(inv.total_amt)) if inv.total_amt is not None else sum(
        (li.invoice_line.extended_item_total or Decimal(0) for li in lines), Decimal(0))
    header = InvoiceHeader(trading_partner_id=partner_id, invoice_number=number, invoice_date=inv.txn_date,
                           invoice_type_code="DR", buyers_currency=tenant.partners[partner_id].currency)
    return RsxInvoice(header=InvoiceDocHeader(invoice_header=header, payment_terms=terms), line_item=lines,
                      summary=Summary(total_amount=money(total), total_line_item_number=len(lines)))
