"""``ml-connector preview --integration commerce-intacct-o2c FILE``: the Intacct function one
Commerce document (a REST JSON entity: order, invoice, credit memo, shipment, product or
customer) becomes, and the entity session it would post in. Nothing is read or written.

Values only a live run knows are placeholders: the AR invoice key a payment applies to
(``<RECORDNO of ...>``) and, for a payment or credit memo read without its order (an invoice
file may carry it under ``"order"``), the order's customer (``ORDER-CUSTOMER``).
"""

from __future__ import annotations

import json

from lxml import etree

from ..connectors.errors import BadDocument
from ..connectors.intacct import functions_ar, functions_inventory, functions_parties
from ..ledger.store import idempotency_key
from ..mappings import commerce_o2c_customers as customers
from ..mappings import commerce_to_intacct_o2c as o2c
from ..mappings.commerce_o2c_rows import INTEGRATION, KINDS, as_invoiceable

_ALIASES = {"order": "orders", "invoice": "invoices", "creditmemo": "creditmemos", "shipment": "shipments",
            "product": "products", "customer": "customers"}


def detect_kind(doc: dict) -> str:
    """Which Commerce entity a JSON object is (an explicit ``"kind"`` wins)."""
    hint = doc.get("kind")
    if isinstance(hint, str) and _ALIASES.get(hint, hint) in KINDS:
        return _ALIASES.get(hint, hint)
    if "sku" in doc and "type_id" in doc:
        return "products"
    if "email" in doc and "id" in doc and "entity_id" not in doc:
        return "customers"
    if "order_id" not in doc:
        return "orders"
    if "tracks" in doc or ("total_qty" in doc and "grand_total" not in doc):
        return "shipments"
    if any(k in doc for k in ("adjustment", "creditmemo_status", "invoice_id", "adjustment_positive")):
        return "creditmemos"
    return "invoices"


def _function(kind: str, doc: dict, mapping) -> tuple[str, str | None, bytes]:
    commerce = mapping.commerce
    ident = doc.get("entity_id") or doc.get("id") or doc.get("sku")
    key = idempotency_key(mapping.tenant, INTEGRATION, KINDS[kind], "", str(ident))
    if kind == "products":
        item = o2c.product_to_item(doc, commerce)
        return f"ITEM {item.item_id} ({item.item_type})", None, functions_inventory.item_function(key, item).body
    if kind == "customers":
        customer = customers.customer_to_intacct(doc, commerce)
        return f"CUSTOMER {customer.customer_id}", None, functions_parties.customer_create_function(key, customer).body
    entity = o2c.entity_for(doc, commerce)
    if kind == "orders":
        order = as_invoiceable(doc, commerce) or doc
        invoice = o2c.order_to_ar_invoice(order, commerce)
        return f"AR invoice {invoice.invoice_no} for {invoice.customer_id}", entity, \
            functions_ar.invoice_function(key, invoice).body
    if kind == "invoices":
        order = doc.get("order") if isinstance(doc.get("order"), dict) else {}
        number = (o2c.invoice_number(str(order["increment_id"]), commerce) if order.get("increment_id")
                  else f"the AR invoice of order {doc.get('order_id')}")
        customer = None if order else "ORDER-CUSTOMER"  # known once the order is read
        payment = o2c.invoice_to_ar_payment(doc, order, commerce, f"<RECORDNO of {number}>", customer_id=customer)
        return f"AR payment {payment.ref_id} applied to {number}", entity, functions_ar.arpayment_function(key, payment).body
    if kind == "creditmemos":
        customer = str(doc.get("customer_id") or "ORDER-CUSTOMER")
        adjustment = o2c.creditmemo_to_ar_adjustment(doc, commerce, customer, f"<invoice of order {doc.get('order_id')}>")
        return f"AR adjustment {adjustment.adjustment_no}", entity, functions_ar.aradjustment_function(key, adjustment).body
    transaction = o2c.shipment_to_ictransaction(doc, commerce)
    return f"{transaction.transaction_type} {transaction.document_no}", entity, \
        functions_inventory.ictransaction_function(key, transaction).body


def preview_o2c(content: bytes, mapping, name: str) -> str:
    """The Intacct function(s) for the Commerce document(s) in ``content`` (an object, or a list
    of objects); BadDocument with a one-line reason for anything unreadable."""
    if mapping.commerce is None or mapping.commerce.o2c is None:
        raise BadDocument(f"the tenant {mapping.tenant} has no commerce.o2c section")
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadDocument(f"{name}: not JSON: {str(exc).splitlines()[0][:120]}") from None
    docs = data if isinstance(data, list) else [data]
    out = []
    for n, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise BadDocument(f"{name}: document {n} is not a JSON object")
        kind = detect_kind(doc)
        what, entity, body = _function(kind, doc, mapping)
        where = f"in entity {entity}" if entity else "in the configured (top-level) session"
        pretty = etree.tostring(etree.fromstring(body), pretty_print=True).decode()
        ident = doc.get("increment_id") or doc.get("sku") or doc.get("id")
        out.append(f"<!-- {kind[:-1]} {ident} -> {what}, {where} -->\n{pretty}")
    return "\n".join(out)
