"""Adobe Commerce order to cash -> Sage Intacct AR and inventory. Pure functions: no I/O.

Rules (``commerce.o2c`` in the tenant file, :mod:`.commerce_tenant`):

* Routing: the document's ``store_id`` decides the Intacct entity (:func:`entity_for`); every
  line carries it as LOCATIONID and the flow posts in that entity's session. Unmapped stores
  are rejected with the store named.
* An order reaching ``invoiceable_states`` (processing, complete) becomes an AR invoice
  (``create_invoice``) numbered ``invoice_prefix`` + increment_id, with the order's entity_id
  in the custom field ``entity_id_field`` so the invoice can be traced back. Lines: items on
  ``revenue_account`` with the SKU as ITEMID, then shipping, tax and discount; they must add
  up to ``grand_total`` to the cent.
* A paid (captured) Commerce invoice becomes an AR payment applied to the AR invoice's
  RECORDNO, which the flow resolves (ledger target id, else ``find_ar_invoices``).
* A credit memo (refund) becomes an AR adjustment with negative lines (credit memo),
  referencing the AR invoice number.
* A product becomes an ITEM (SKU -> ITEMID); a shipment an inventory transaction out of the
  store's warehouse. Customers both ways: :mod:`.commerce_o2c_customers`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ..connectors.intacct.models_commerce import (
    ArAdjustment,
    ArLine,
    ArPayment,
    ArPaymentApplication,
    IcLine,
    IcTransaction,
    Item,
    NewArInvoice,
)
from .commerce_common import (
    amount,
    bad,
    cents,
    integer,
    items,
    label,
    money_lines,
    need_dict,
    one_sign,
    po_number,
    route,
    text,
    when,
)
from .commerce_tenant import CommerceSettings, O2cSettings, StoreRoute

OPERATION = "commerce-intacct-o2c"
INVOICE_PAID = 2  # Magento invoice state: 1 open, 2 paid, 3 canceled
PRODUCT_ENABLED = 1


def _o2c(commerce: CommerceSettings) -> O2cSettings:
    if commerce.o2c is None:
        raise bad("the tenant has no commerce.o2c section", "not-configured", OPERATION)
    return commerce.o2c


def entity_for(doc: dict, commerce: CommerceSettings) -> str:
    """The Intacct entity (LOCATIONID) a Commerce document posts in, by its store_id."""
    doc = need_dict(doc, "document")
    return route(doc, commerce, label(doc, "document")).entity


def invoice_number(order_increment_id: str, commerce: CommerceSettings) -> str:
    """The AR invoice number (RECORDID) of an order: what payments and adjustments refer to."""
    return f"{_o2c(commerce).invoice_prefix}{order_increment_id}"


def is_invoiceable(order: dict, commerce: CommerceSettings) -> bool:
    """Has the order reached a state that makes it an AR invoice (processing by default)?"""
    return isinstance(order, dict) and order.get("state") in _o2c(commerce).invoiceable_states


def customer_id_for_order(order: dict, commerce: CommerceSettings) -> str:
    """The CUSTOMERID by rule: ``customer_id_prefix`` + Commerce customer id, or the guest
    customer for guest orders (rejected when none is configured). A customer whose Commerce
    record keeps another CUSTOMERID (``customer_id_attribute``) is passed in by the flow."""
    o2c = _o2c(commerce)
    where = label(order, "order")
    if order.get("customer_is_guest") in (1, True, "1") or order.get("customer_id") in (None, ""):
        if not o2c.guest_customer_id:
            raise bad(f"{where} is a guest order and commerce.o2c.guest_customer_id is not set", "guest", OPERATION)
        return o2c.guest_customer_id
    return f"{o2c.customer_id_prefix}{integer(order, 'customer_id', where)}"


def _dims(o2c: O2cSettings, store: StoreRoute) -> dict:
    return dict(location_id=store.entity, department_id=store.department or o2c.department, class_id=o2c.class_)


def _lines(doc: dict, where: str, o2c: O2cSettings, store: StoreRoute, account: str, sign: Decimal) -> list[ArLine]:
    fields = money_lines(doc, where, sign=sign, account=account, shipping_account=o2c.shipping_account,
                         tax_account=o2c.tax_account, discount_account=o2c.discount_account, operation=OPERATION)
    dims = _dims(o2c, store)
    return [ArLine(account_no=f["account_no"], amount=f["amount"], memo=f["memo"], item_id=f["sku"], **dims)
            for f in fields]


def _check_total(doc: dict, lines: list, where: str) -> None:
    grand = cents(amount(doc, "grand_total", where, required=True))
    total = sum((line.amount for line in lines), Decimal("0"))
    if abs(total) != abs(grand):
        raise bad(f"{where}: lines add up to {total} but grand_total is {grand}", "totals-mismatch", OPERATION)


def order_to_ar_invoice(order: dict, commerce: CommerceSettings, customer_id: str | None = None) -> NewArInvoice:
    """An order (``/V1/orders`` item) in an invoiceable state -> the AR invoice
    (``create_invoice``) with the order's entity_id in the configured custom field."""
    o2c = _o2c(commerce)
    order = need_dict(order, "order")
    where = label(order, "order")
    if not is_invoiceable(order, commerce):
        raise bad(f"{where} is in state {str(order.get('state'))[:30]!r}, not one of "
                  f"{', '.join(o2c.invoiceable_states)}", "not-invoiceable", OPERATION)
    number = text(order, "increment_id", where, max_len=50)
    entity_id = integer(order, "entity_id", where)
    store = route(order, commerce, where)
    lines = _lines(order, where, o2c, store, o2c.revenue_account, Decimal(1))
    _check_total(order, lines, where)
    created = when(order, "created_at", where)
    return NewArInvoice(
        customer_id=customer_id or customer_id_for_order(order, commerce), date_created=created,
        date_due=None if o2c.term_name else created + timedelta(days=o2c.due_days), term_name=o2c.term_name,
        invoice_no=invoice_number(number, commerce), po_number=po_number(order),
        description=f"Commerce order {number} (store {store.store_code})",
        currency=text(order, "order_currency_code", where, required=False, max_len=3),
        custom={o2c.entity_id_field: str(entity_id)}, lines=tuple(lines))


def is_paid(invoice: dict) -> bool:
    """Is this Commerce invoice captured (state 2, paid)?"""
    return isinstance(invoice, dict) and str(invoice.get("state")) == str(INVOICE_PAID)


def invoice_to_ar_payment(invoice: dict, order: dict, commerce: CommerceSettings, invoice_key: str,
                          customer_id: str | None = None) -> ArPayment:
    """A paid Commerce invoice (``/V1/invoices`` item) of ``order`` -> the AR payment applied to
    the AR invoice ``invoice_key`` (its RECORDNO). The payment method comes from the order's
    ``payment.method`` through ``o2c.payment.methods``."""
    o2c = _o2c(commerce)
    invoice, order = need_dict(invoice, "invoice"), need_dict(order, "order")
    where = label(invoice, "invoice")
    if not is_paid(invoice):
        raise bad(f"{where} is not paid (state {str(invoice.get('state'))[:10]!r})", "not-paid", OPERATION)
    if not invoice_key:
        raise bad(f"{where}: the AR invoice to apply the payment to is unknown", "no-invoice", OPERATION)
    route(invoice, commerce, where)  # an unmapped store is rejected here too
    total = cents(amount(invoice, "grand_total", where, required=True))
    if total <= 0:
        raise bad(f"{where}: grand_total {total} is not a payment", "no-amount", OPERATION)
    payment = order.get("payment") if isinstance(order.get("payment"), dict) else {}
    method = o2c.payment.methods.get(str(payment.get("method") or ""), o2c.payment.default_method)
    return ArPayment(
        customer_id=customer_id or customer_id_for_order(order, commerce), amount=total,
        bank_account_id=o2c.payment.bank_account_id, undeposited_account=o2c.payment.undeposited_account,
        ref_id=text(invoice, "increment_id", where, max_len=50), date_received=when(invoice, "created_at", where),
        payment_method=method, currency=text(invoice, "order_currency_code", where, required=False, max_len=3),
        applications=(ArPaymentApplication(invoice_key=invoice_key, amount=total),))


def creditmemo_to_ar_adjustment(memo: dict, commerce: CommerceSettings, customer_id: str,
                                invoice_no: str | None) -> ArAdjustment:
    """A credit memo or refund (``/V1/creditmemos`` item) -> an AR adjustment with negative
    lines (a credit memo in Intacct), referencing the AR invoice ``invoice_no``."""
    o2c = _o2c(commerce)
    memo = need_dict(memo, "credit memo")
    where = label(memo, "credit memo")
    number = text(memo, "increment_id", where, max_len=50)
    store = route(memo, commerce, where)
    account = o2c.adjustment_account or o2c.revenue_account
    lines = _lines(memo, where, o2c, store, account, Decimal(-1))
    adjustment = cents(amount(memo, "adjustment", where))
    if adjustment:
        lines.append(ArLine(account_no=account, amount=-adjustment, memo="refund adjustment", **_dims(o2c, store)))
    _check_total(memo, lines, where)
    lines = one_sign(lines, f"credit memo {number}")
    return ArAdjustment(customer_id=customer_id, date_created=when(memo, "created_at", where),
                        adjustment_no=f"{o2c.adjustment_prefix}{number}", invoice_no=invoice_no,
                        description=f"Commerce credit memo {number}",
                        currency=text(memo, "order_currency_code", where, required=False, max_len=3),
                        lines=tuple(lines))


def product_to_item(product: dict, commerce: CommerceSettings) -> Item:
    """A product (``/V1/products`` item) -> an ITEM: SKU -> ITEMID, ``type_id`` -> ITEMTYPE
    through ``o2c.item_types`` (a type not listed, e.g. configurable, is rejected: it is not a
    stock item, its children are)."""
    o2c = _o2c(commerce)
    product = need_dict(product, "product")
    where = f"product {product.get('sku') or product.get('id') or '?'}"
    sku = text(product, "sku", where, max_len=64)
    type_id = text(product, "type_id", where, max_len=40)
    if type_id not in o2c.item_types:
        raise bad(f"{where}: product type {type_id!r} is not mapped in commerce.o2c.item_types", "unmapped-type",
                  OPERATION)
    status = integer(product, "status", where, required=False)
    return Item(item_id=sku, name=text(product, "name", where, max_len=100), item_type=o2c.item_types[type_id],
                status="active" if status in (None, PRODUCT_ENABLED) else "inactive")


def shipment_to_ictransaction(shipment: dict, commerce: CommerceSettings,
                              order_increment_id: str | None = None) -> IcTransaction:
    """A shipment (``/V1/shipments`` item) -> an inventory transaction of
    ``o2c.shipment.ictransaction_type`` out of the store's warehouse (store override, else
    ``o2c.shipment.warehouse``), one line per shipped SKU."""
    o2c = _o2c(commerce)
    shipment = need_dict(shipment, "shipment")
    where = label(shipment, "shipment")
    number = text(shipment, "increment_id", where, max_len=50)
    store = route(shipment, commerce, where)
    warehouse = store.warehouse or o2c.shipment.warehouse
    lines = []
    for n, item in enumerate(items(shipment, where), start=1):
        at = f"{where} line {n}"
        qty = amount(item, "qty", at, required=True)
        if qty < 0:
            raise bad(f"{at}: negative quantity {qty}", "wrong-value", OPERATION)
        if qty:
            lines.append(IcLine(item_id=text(item, "sku", at, max_len=64), warehouse_id=warehouse,
                                quantity=qty.normalize(), item_desc=text(item, "name", at, required=False),
                                location_id=store.entity, department_id=store.department or o2c.department))
    if not lines:
        raise bad(f"{where} ships nothing", "empty", OPERATION)
    order_ref = order_increment_id or str(integer(shipment, "order_id", where))
    return IcTransaction(transaction_type=o2c.shipment.ictransaction_type,
                         date_created=when(shipment, "created_at", where), document_no=number,
                         reference_no=order_ref, message=f"Commerce shipment {number} of order {order_ref}",
                         lines=tuple(lines))
