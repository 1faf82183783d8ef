"""Adobe Commerce -> Sage Intacct (procure). Pure functions: no I/O.

Rules (``commerce.procure`` in the tenant file, :mod:`.commerce_tenant`):

* The Commerce customer is an Intacct vendor, matched in ``vendor_match`` order: by email,
  then by the Commerce customer id kept in the vendor custom field ``vendor_commerce_id_field``.
  :func:`match_vendor` takes the lookup as a callable (the flow passes the client's
  ``find_vendors``), so the rule stays testable without I/O. A vendor created for an unmatched
  customer gets ``vendor_id_prefix`` + the Commerce customer id.
* An order or invoice becomes an AP bill (``ApBill``): one line per billable item (children of
  configurable/bundle products are skipped) on ``ap_account``, then shipping, tax and discount
  lines; the lines must add up to ``grand_total`` to the cent, or the document is rejected
  (a bill with wrong money is worse than no bill). Every line carries the store's entity as
  LOCATIONID (required in multi-entity companies).
* A B2B order paid by purchase order (``payment.po_number``) becomes a PODOCUMENT through
  ``create_potransaction`` instead, with the PO number as ``referenceno``.
* A credit memo becomes an AP adjustment with negative lines, linked to the order's bill by
  ``billno`` (see :class:`~ml_connector.connectors.intacct.models_commerce.ApAdjustment`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from ..connectors.intacct.models import ApBill, ApBillLine
from ..connectors.intacct.models_commerce import ApAdjustment, PoLine, PoTransaction, Vendor
from .commerce_common import (
    amount,
    bad,
    billable_items,
    cents,
    email,
    integer,
    label,
    money_lines,
    need_dict,
    one_sign,
    po_number,
    route,
    text,
    when,
)
from .commerce_parties import FieldConflict, commerce_customer_update, commerce_party
from .commerce_tenant import CommerceSettings, ProcureSettings, StoreRoute

OPERATION = "commerce-intacct-ap"
VendorLookup = Callable[[str, str], list[dict]]


def _procure(commerce: CommerceSettings) -> ProcureSettings:
    if commerce.procure is None:
        raise bad("the tenant has no commerce.procure section", "not-configured", OPERATION)
    return commerce.procure


def is_purchase_order(order: dict) -> bool:
    """A B2B order paid by purchase order: it becomes a PODOCUMENT, not a bill."""
    return isinstance(order, dict) and bool(po_number(order))


def vendor_id_for(customer_id: int, commerce: CommerceSettings) -> str:
    """The VENDORID of a vendor created for Commerce customer ``customer_id``."""
    return f"{_procure(commerce).vendor_id_prefix}{customer_id}"


def match_vendor(doc: dict, commerce: CommerceSettings, find: VendorLookup) -> str | None:
    """The VENDORID of the vendor a Commerce order/customer belongs to, trying ``vendor_match``
    in order (``find(by, value)`` returns vendor records, oldest first); None when no step
    matches. Several vendors on one step: the oldest wins (the lookup orders by RECORDNO)."""
    procure = _procure(commerce)
    doc = need_dict(doc, "document")
    where = label(doc, "document")
    is_customer = "customer_email" not in doc and "email" in doc
    mail = email(doc, "email" if is_customer else "customer_email", where)
    customer_id = integer(doc, "id" if is_customer else "customer_id", where, required=False)
    for step in procure.vendor_match:
        if step == "email":
            found = find("email", mail)
        elif customer_id is not None:
            found = find(procure.vendor_commerce_id_field, str(customer_id))
        else:
            continue
        if found:
            return found[0]["VENDORID"]
    return None


def customer_to_vendor(customer: dict, commerce: CommerceSettings, vendor_id: str | None = None) -> Vendor:
    """The VENDOR for a ``/V1/customers`` item (create when ``vendor_id`` is None, else the
    update of that vendor): contact fields from Commerce, the Commerce id in the custom field."""
    procure = _procure(commerce)
    customer_id, fields, contact = commerce_party(customer)
    return Vendor(vendor_id=vendor_id or vendor_id_for(customer_id, commerce), name=fields["name"][:100],
                  contact=contact, custom={procure.vendor_commerce_id_field: str(customer_id)})


def vendor_to_commerce_customer(record: dict, customer: dict,
                                commerce: CommerceSettings) -> tuple[dict, list[FieldConflict]]:
    """(``PUT /V1/customers/{id}`` body, conflicts): the vendor master flowing back to the
    Commerce customer it was matched to, under the conflict rule (``commerce.conflicts``)."""
    _procure(commerce)
    record = need_dict(record, "Intacct vendor")
    if not isinstance(record.get("VENDORID"), str) or not record["VENDORID"]:
        raise bad("Intacct vendor record has no VENDORID", "missing-field", OPERATION)
    return commerce_customer_update(record, customer, commerce.conflicts)


def order_bill_number(increment_id: str, commerce: CommerceSettings) -> str:
    """The RECORDID an order's bill gets (also what a credit memo's ``billno`` points at)."""
    return f"{_procure(commerce).order_bill_prefix}{increment_id}"


def order_to_apbill(order: dict, commerce: CommerceSettings, vendor_id: str) -> ApBill:
    """An order (``/V1/orders`` item) -> the AP bill on ``vendor_id``."""
    order = need_dict(order, "order")
    where = label(order, "order")
    number = text(order, "increment_id", where, max_len=50)
    return _bill(order, where, commerce, vendor_id, order_bill_number(number, commerce),
                 f"Commerce order {number}", po_number(order) or number)


def invoice_to_apbill(invoice: dict, commerce: CommerceSettings, vendor_id: str,
                      order_increment_id: str | None = None) -> ApBill:
    """An invoice (``/V1/invoices`` item) -> the AP bill on ``vendor_id``."""
    invoice = need_dict(invoice, "invoice")
    where = label(invoice, "invoice")
    number = text(invoice, "increment_id", where, max_len=50)
    record_id = f"{_procure(commerce).invoice_bill_prefix}{number}"
    return _bill(invoice, where, commerce, vendor_id, record_id, f"Commerce invoice {number}",
                 order_increment_id or number)


def _bill(doc: dict, where: str, commerce: CommerceSettings, vendor_id: str, record_id: str,
          description: str, doc_number: str) -> ApBill:
    procure = _procure(commerce)
    store = route(doc, commerce, where)
    created = when(doc, "created_at", where)
    lines = _lines(doc, where, procure, store, procure.ap_account, sign=Decimal(1))
    _check_total(doc, lines, where)
    return ApBill(vendor_id=vendor_id, record_id=record_id, when_created=created,
                  when_due=created + timedelta(days=procure.due_days), doc_number=doc_number[:100],
                  description=f"{description} (store {store.store_code})",
                  currency=_currency(doc, where), lines=tuple(lines))


def _lines(doc: dict, where: str, procure: ProcureSettings, store: StoreRoute, account: str,
           sign: Decimal) -> list[ApBillLine]:
    dims = dict(location_id=store.entity, department_id=store.department or procure.department,
                class_id=procure.class_)
    fields = money_lines(doc, where, sign=sign, account=account, shipping_account=procure.shipping_account,
                         tax_account=procure.tax_account, discount_account=procure.discount_account,
                         operation=OPERATION)
    # AP bill lines carry the SKU in the memo only (the vendor's items are not ours)
    return [ApBillLine(account_no=f["account_no"], amount=f["amount"], memo=f["memo"], **dims) for f in fields]


def _check_total(doc: dict, lines: list, where: str) -> None:
    grand = cents(amount(doc, "grand_total", where, required=True))
    total = sum((line.amount for line in lines), Decimal("0"))
    if abs(total) != abs(grand):
        raise bad(f"{where}: lines add up to {total} but grand_total is {grand}", "totals-mismatch", OPERATION)


def _currency(doc: dict, where: str) -> str | None:
    return text(doc, "order_currency_code", where, required=False, max_len=3)


def order_to_potransaction(order: dict, commerce: CommerceSettings, vendor_id: str) -> PoTransaction:
    """A B2B order paid by purchase order -> a PODOCUMENT (``create_potransaction``):
    documentno = the order number, referenceno = the buyer's PO number, one line per item
    (SKU = ITEMID), shipping on ``po_shipping_item`` (rejected when shipping is charged and no
    shipping item is configured: dropping it would lose money)."""
    procure = _procure(commerce)
    order = need_dict(order, "order")
    where = label(order, "order")
    reference = po_number(order)
    if not reference:
        raise bad(f"{where} has no payment.po_number: not a purchase order", "not-a-po", OPERATION)
    number = text(order, "increment_id", where, max_len=50)
    store = route(order, commerce, where)
    dims = dict(location_id=store.entity, department_id=store.department or procure.department)
    lines = []
    for n, item in enumerate(billable_items(order, where), start=1):
        at = f"{where} line {n}"
        lines.append(PoLine(item_id=text(item, "sku", at, max_len=64),
                            quantity=amount(item, "qty_ordered", at, required=True).normalize(),
                            price=cents(amount(item, "price", at)),
                            item_desc=text(item, "name", at, required=False, max_len=400), **dims))
    if not lines:
        raise bad(f"{where} has no billable lines", "empty", OPERATION)
    shipping = amount(order, "shipping_amount", where)
    if shipping:
        if not procure.po_shipping_item:
            raise bad(f"{where} charges shipping {shipping} but commerce.procure.po_shipping_item is not set",
                      "no-shipping-item", OPERATION)
        lines.append(PoLine(item_id=procure.po_shipping_item, quantity=Decimal(1), price=cents(shipping),
                            item_desc="shipping", **dims))
    created = when(order, "created_at", where)
    return PoTransaction(transaction_type=procure.po_transaction_type, date_created=created, vendor_id=vendor_id,
                         document_no=number, reference_no=reference, date_due=created + timedelta(days=procure.due_days),
                         message=f"Commerce order {number} (store {store.store_code})",
                         currency=_currency(order, where), lines=tuple(lines))


def creditmemo_to_apadjustment(memo: dict, commerce: CommerceSettings, vendor_id: str,
                               bill_no: str | None) -> ApAdjustment:
    """A credit memo (``/V1/creditmemos`` item) -> an AP adjustment with negative lines, linked
    to the bill it credits by ``bill_no`` (the order's bill RECORDID; None when the order was
    never billed, and the adjustment then stands alone)."""
    procure = _procure(commerce)
    memo = need_dict(memo, "credit memo")
    where = label(memo, "credit memo")
    number = text(memo, "increment_id", where, max_len=50)
    store = route(memo, commerce, where)
    lines = _lines(memo, where, procure, store, procure.adjustment_account or procure.ap_account, sign=Decimal(-1))
    adjustment = cents(amount(memo, "adjustment", where))  # adjustment_positive - adjustment_negative
    if adjustment:
        lines.append(ApBillLine(account_no=procure.adjustment_account or procure.ap_account,
                                amount=-adjustment, memo="refund adjustment", location_id=store.entity,
                                department_id=store.department or procure.department, class_id=procure.class_))
    _check_total(memo, lines, where)
    lines = one_sign(lines, f"credit memo {number}")
    return ApAdjustment(vendor_id=vendor_id, date_created=when(memo, "created_at", where),
                        adjustment_no=f"{procure.adjustment_prefix}{number}", bill_no=bill_no,
                        description=f"Commerce credit memo {number}" + (f" for bill {bill_no}" if bill_no else ""),
                        currency=_currency(memo, where), lines=tuple(lines))
