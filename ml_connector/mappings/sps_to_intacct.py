"""RSX Order, Invoice and Shipment -> Intacct AP bill. Pure functions: no I/O.

Rules (the seed's defaults; a tenant file can route a document type to ``skip``):

* The trading partner decides the vendor, the cost center (department/location/class) and
  the GL accounts; an unknown partner rejects the document.
* Every line resolves through the item cross-reference (buyer part, vendor part, then UPC);
  an unknown item rejects the whole document, because a bill missing a line is wrong money.
* Amounts: quantity x unit price, quantized to cents (Intacct rounds to 2 places anyway;
  doing it here makes the ledger hash and the target agree). Header and line charges become
  their own lines on the partner's charges account, allowances negative on its allowances
  account.
* The bill number (RECORDID) is the invoice number for invoices, ``PO-<number>`` for orders
  and ``ASN-<id>`` for shipments, so the three document types of one partner never collide.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ..connectors.errors import BadDocument
from ..connectors.intacct.models import ApBill, ApBillLine, SoLine, SoTransaction
from ..connectors.sps.models import (
    ChargeAllowance,
    ItemIds,
    RsxInvoice,
    RsxOrder,
    RsxShipment,
)
from .identifiers import identifier
from .intacct_bill_revisions import SO_REF
from .tenant import PartnerMapping, TenantMapping

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def bill_number(doc_type: str, number: str) -> str:
    """The RECORDID an RSX document becomes in Intacct (also the key to find it again)."""
    identifier(number, f"{doc_type} number")
    return {"invoice": number, "order": f"PO-{number}", "shipment": f"ASN-{number}"}[doc_type]


def bill_ref(bill: ApBill) -> str:
    """How the ledger remembers where a bill went: RECORDID is only unique per vendor."""
    return f"{bill.vendor_id}:{bill.record_id}"


def bill_identity(doc_type: str, partner_id: str, number: str, tenant: TenantMapping) -> tuple[str, str]:
    """(VENDORID, RECORDID) of the bill an RSX document stands for, without mapping its lines."""
    return _partner(partner_id, tenant).vendor_id, bill_number(doc_type, number)


def parse_bill_ref(ref: str) -> tuple[str, str] | None:
    """(vendor, bill number) of a bill's target ref; None for anything else (a sales order's
    ``SODOCUMENT:<DOCID>``, mappings/intacct_bill_revisions.sales_order_ref)."""
    if ref.startswith(SO_REF):
        return None
    vendor, sep, record_id = ref.partition(":")
    return (vendor, record_id) if sep else None


def route(doc_type: str, partner_id: str, tenant: TenantMapping) -> str:
    """Where this document type of this partner goes: 'apbill', 'salesorder' or 'skip'."""
    return _partner(partner_id, tenant).routes.get(doc_type, "apbill")


def rsx_to_apbill(doc_type: str, doc: RsxOrder | RsxInvoice | RsxShipment, tenant: TenantMapping) -> ApBill:
    """Map one RSX document to the AP bill it stands for, or raise BadDocument saying why."""
    if isinstance(doc, RsxInvoice):
        return _invoice(doc, tenant)
    if isinstance(doc, RsxShipment):
        return _shipment(doc, tenant)
    if isinstance(doc, RsxOrder) and doc_type == "order":
        return _order(doc, tenant)
    raise BadDocument(f"no AP bill mapping for document type {doc_type!r}", system="mapping", operation="sps-intacct")


def rsx_to_salesorder(doc: RsxOrder, tenant: TenantMapping) -> SoTransaction:
    """A retailer's RSX order as the Order Entry sales order of the partner's customer (route
    ``salesorder``): document number and reference the PO number, one line per order line at
    the order's price, items through the cross-reference; or BadDocument saying why."""
    h = doc.header.order_header
    partner = _partner(h.trading_partner_id, tenant)
    number = identifier(h.purchase_order_number.strip(), "order number")
    lines = []
    for n, li in enumerate(doc.line_item):
        ol = li.order_line
        where = f"line {ol.line_sequence_number or n + 1}"
        item = tenant.find_item(buyer_part=ol.buyer_part_number, vendor_part=ol.vendor_part_number,
                                upc=ol.consumer_package_code)
        if item is None:
            known = ol.buyer_part_number or ol.vendor_part_number or ol.consumer_package_code or "(no identifier)"
            raise BadDocument(f"{where}: unknown item {known!r} (no cross-reference by buyer part, vendor part or UPC)",
                              system="mapping", operation="sps-intacct", code="unknown-item")
        lines.append(SoLine(item_id=item.item_id, quantity=ol.order_qty, price=money(ol.purchase_price),
                            memo=where, location_id=partner.dimensions.location,
                            department_id=partner.dimensions.department))
    return SoTransaction(transaction_type=partner.so_transaction_type, date_created=h.purchase_order_date,
                         customer_id=partner.customer_id or "", document_no=number, reference_no=number,
                         date_due=_due(h.purchase_order_date, doc, partner),
                         message=f"SPS order {number} from {partner.name}", currency=h.buyers_currency or partner.currency,
                         lines=tuple(lines))


def _partner(partner_id: str, tenant: TenantMapping) -> PartnerMapping:
    partner = tenant.partners.get(partner_id)
    if partner is None:
        raise BadDocument(
            f"unknown trading partner {partner_id!r}: add it to the tenant mapping file",
            system="mapping",
            operation="sps-intacct",
            code="unknown-partner",
        )
    return partner


def _line(ids: ItemIds, qty: Decimal, price: Decimal | None, account: str, partner: PartnerMapping,
          tenant: TenantMapping, where: str) -> ApBillLine:
    item = tenant.find_item(buyer_part=ids.buyer_part_number, vendor_part=ids.vendor_part_number,
                            upc=ids.consumer_package_code)
    if item is None:
        known = ids.buyer_part_number or ids.vendor_part_number or ids.consumer_package_code or "(no identifier)"
        raise BadDocument(
            f"{where}: unknown item {known!r} (no cross-reference by buyer part, vendor part or UPC)",
            system="mapping", operation="sps-intacct", code="unknown-item",
        )
    unit = price if price is not None else item.unit_cost
    if unit is None:
        raise BadDocument(f"{where}: no unit price on the line and none in the cross-reference for {item.item_id}",
                          system="mapping", operation="sps-intacct", code="no-price")
    dims = partner.dimensions
    return ApBillLine(
        account_no=item.gl_account or account,
        amount=money(qty * unit),
        memo=f"{item.item_id} x {qty.normalize():f} @ {unit}",
        item_id=item.item_id,
        department_id=dims.department,
        location_id=dims.location,
        class_id=dims.class_,
    )


def _charges(charges: list[ChargeAllowance], partner: PartnerMapping) -> list[ApBillLine]:
    lines = []
    dims = partner.dimensions
    for c in charges:
        allowance = c.allow_chrg_indicator == "A"
        amount = money(-abs(c.allow_chrg_amt) if allowance else abs(c.allow_chrg_amt))
        lines.append(ApBillLine(
            account_no=partner.gl_accounts.allowances if allowance else partner.gl_accounts.charges,
            amount=amount,
            memo=f"{'allowance' if allowance else 'charge'} {c.allow_chrg_code or ''}".strip(),
            department_id=dims.department, location_id=dims.location, class_id=dims.class_,
        ))
    return lines


def _due(start: date, doc, partner: PartnerMapping) -> date:
    terms = [t.terms_net_due_days for t in doc.header.payment_terms if t.terms_net_due_days is not None]
    return start + timedelta(days=terms[0] if terms else partner.due_days)


def _order(doc: RsxOrder, tenant: TenantMapping) -> ApBill:
    h = doc.header.order_header
    partner = _partner(h.trading_partner_id, tenant)
    lines = [
        _line(li.order_line, li.order_line.order_qty, li.order_line.purchase_price, partner.gl_accounts.order,
              partner, tenant, f"line {li.order_line.line_sequence_number or n + 1}")
        for n, li in enumerate(doc.line_item)
    ]
    lines += _charges(doc.header.charges_allowances, partner)
    return ApBill(
        vendor_id=partner.vendor_id, record_id=bill_number("order", h.purchase_order_number),
        when_created=h.purchase_order_date, when_due=_due(h.purchase_order_date, doc, partner),
        doc_number=h.purchase_order_number, description=f"SPS order {h.purchase_order_number} from {partner.name}",
        currency=h.buyers_currency or partner.currency, lines=tuple(lines),
    )


def _invoice(doc: RsxInvoice, tenant: TenantMapping) -> ApBill:
    h = doc.header.invoice_header
    partner = _partner(h.trading_partner_id, tenant)
    lines = []
    for n, li in enumerate(doc.line_item):
        il = li.invoice_line
        lines.append(_line(il, il.invoice_qty, il.purchase_price, partner.gl_accounts.invoice, partner, tenant,
                           f"line {il.line_sequence_number or n + 1}"))
        lines += _charges(li.charges_allowances, partner)
    lines += _charges(doc.header.charges_allowances, partner)
    return ApBill(
        vendor_id=partner.vendor_id, record_id=bill_number("invoice", h.invoice_number),
        when_created=h.invoice_date, when_due=_due(h.invoice_date, doc, partner),
        doc_number=h.purchase_order_number, description=f"SPS invoice {h.invoice_number} from {partner.name}",
        currency=h.buyers_currency or partner.currency, lines=tuple(lines),
    )


def _shipment(doc: RsxShipment, tenant: TenantMapping) -> ApBill:
    h = doc.header.shipment_header
    partner = _partner(h.trading_partner_id, tenant)
    lines = [
        _line(sl, sl.ship_qty, sl.purchase_price, partner.gl_accounts.shipment, partner, tenant,
              f"order {order.order_header.purchase_order_number} line {sl.line_sequence_number or n + 1}")
        for n, (order, sl) in enumerate(doc.item_lines())
    ]
    if not lines:
        raise BadDocument(f"shipment {h.shipment_identification} has no item lines", system="mapping",
                          operation="sps-intacct", code="empty")
    lines += _charges(doc.header.charges_allowances, partner)
    pos = sorted({o.order_header.purchase_order_number for o in doc.order_level})
    return ApBill(
        vendor_id=partner.vendor_id, record_id=bill_number("shipment", h.shipment_identification),
        when_created=h.ship_date, when_due=h.ship_date + timedelta(days=partner.due_days),
        doc_number=",".join(pos)[:100], description=f"SPS shipment {h.shipment_identification} from {partner.name}",
        currency=partner.currency, lines=tuple(lines),
    )
