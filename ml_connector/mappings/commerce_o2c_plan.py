"""Order to cash: what each ledger document becomes in Intacct, and what it must wait for. Pure.

:class:`Links` is what the ledger knows across documents (customer links, orders and their AR
invoices, items), loaded once per posting call (tasks/commerce_o2c_post.py). :func:`blocker`
says why a document cannot post *yet* (its AR invoice, customer or item is not in Intacct):
such a document stays received with its reason, in dependency order rather than failed.
:func:`plan` maps a claimed document to the one Intacct function it becomes, the entity whose
session posts it, and how to find the record again after a lost response.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ..connectors.intacct import functions_ar, functions_inventory, functions_parties
from ..connectors.intacct.models import Function
from ..ledger.schema import POSTED, POSTING, RECEIVED
from ..ledger.store import Claimed
from . import commerce_o2c_customers as customers
from . import commerce_to_intacct_o2c as o2c
from .commerce_o2c_rows import INTEGRATION, as_invoiceable, loads
from .commerce_tenant import CommerceSettings
from .intacct_bill_revisions import NeedsPerson

LINKED = ("customer", "order", "item")  # the doc types other documents depend on


@dataclass(frozen=True)
class Lookup:
    """How to find a written record again: ``object`` where every (field, value) matches; its
    ``key_field`` is the target id the ledger keeps."""

    object_name: str
    key_field: str
    where: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Planned:
    """One document's write: the entity session it runs in (None: the configured session, for
    master data every entity shares), the function, and its lookup."""

    entity: str | None
    function: Function
    lookup: Lookup
    doc_type: str


@dataclass
class Links:
    """Cross-document facts from the ledger: rows by (doc type, key)."""

    rows: dict[tuple[str, str], object]

    @classmethod
    def of(cls, rows: Iterable) -> Links:
        """The links of ledger document rows (of the ``LINKED`` doc types)."""
        return cls({(r.doc_type, r.natural_key): r for r in rows})

    def get(self, doc_type: str, key) -> object | None:
        return self.rows.get((doc_type, str(key)))

    def customer_id(self, commerce_id) -> str | None:
        row = self.get("customer", commerce_id)
        return row.target_id if row is not None and row.status == POSTED else None


def order_customer(order: dict, links: Links, commerce: CommerceSettings) -> str | None:
    """The CUSTOMERID an order's documents post for, or None while its customer is not linked
    yet. Guest orders go to ``o2c.guest_customer_id`` (BadDocument when there is none)."""
    if order.get("customer_is_guest") in (1, True, "1") or order.get("customer_id") in (None, ""):
        return o2c.customer_id_for_order(order, commerce)
    return links.customer_id(order["customer_id"])


def _order_of(doc: dict, links: Links):
    return links.get("order", doc.get("order_id"))


def blocker(doc_type: str, doc: dict, links: Links, commerce: CommerceSettings) -> str | None:
    """Why this document cannot post yet, or None. Bad documents are not blocked here: mapping
    them quarantines them with their reason."""
    if doc_type == "order":
        if order_customer_missing(doc, links):
            return f"waiting for customer {doc.get('customer_id')} to be created in Intacct"
        return None
    if doc_type in ("payment", "creditmemo"):
        order = _order_of(doc, links)
        what = "payment" if doc_type == "payment" else "credit memo"
        if order is None:
            return f"{what} waits for its order {doc.get('order_id')} to be read from Commerce"
        if order.status != POSTED:
            return (f"{what} waits for AR invoice {order.target_ref} (order {order.natural_key} is {order.status}"
                    + (f": {order.last_error}" if order.last_error and order.status != RECEIVED else "") + ")")[:900]
        return None
    if doc_type == "shipment":
        pending = [i.get("sku") for i in doc.get("items") or [] if isinstance(i, dict)
                   and getattr(links.get("item", i.get("sku")), "status", None) in (RECEIVED, POSTING)]
        return f"waiting for item {', '.join(map(str, pending))[:200]} to be created in Intacct" if pending else None
    return None


def order_customer_missing(order: dict, links: Links) -> bool:
    if order.get("customer_is_guest") in (1, True, "1") or order.get("customer_id") in (None, ""):
        return False
    return links.customer_id(order["customer_id"]) is None


def plan(c: Claimed, links: Links, commerce: CommerceSettings) -> Planned:
    """The Intacct write of one claimed document (BadDocument -> quarantined by the caller)."""
    doc = loads(c.raw_payload)
    key = c.idempotency_key
    if c.doc_type == "item":
        item = o2c.product_to_item(doc, commerce)
        return Planned(None, functions_inventory.item_function(key, item),
                       Lookup("ITEM", "ITEMID", (("ITEMID", item.item_id),)), "item")
    if c.doc_type == "customer":
        customer = customers.customer_to_intacct(doc, commerce)
        return Planned(None, functions_parties.customer_create_function(key, customer),
                       Lookup("CUSTOMER", "CUSTOMERID", (("CUSTOMERID", customer.customer_id),)), "customer")
    if c.doc_type == "order":
        order = as_invoiceable(doc, commerce) or doc
        invoice = o2c.order_to_ar_invoice(order, commerce, customer_id=order_customer(order, links, commerce))
        return Planned(o2c.entity_for(order, commerce), functions_ar.invoice_function(key, invoice),
                       Lookup("ARINVOICE", "RECORDNO", (("RECORDID", invoice.invoice_no),)), "order")
    order_row = _order_of(doc, links)
    order = loads(order_row.raw_payload) if order_row is not None else {}
    if c.doc_type == "payment":
        customer_id = order_customer(order, links, commerce)
        payment = o2c.invoice_to_ar_payment(doc, order, commerce, order_row.target_id if order_row else "",
                                            customer_id=customer_id)
        return Planned(o2c.entity_for(doc, commerce), functions_ar.arpayment_function(key, payment),
                       Lookup("ARPYMT", "RECORDNO", (("DOCNUMBER", payment.ref_id or ""),
                                                     ("CUSTOMERID", payment.customer_id))), "payment")
    if c.doc_type == "creditmemo":
        customer_id = order_customer(order, links, commerce) or ""
        adjustment = o2c.creditmemo_to_ar_adjustment(doc, commerce, customer_id,
                                                     order_row.target_ref if order_row else None)
        return Planned(o2c.entity_for(doc, commerce), functions_ar.aradjustment_function(key, adjustment),
                       Lookup("ARADJUSTMENT", "RECORDNO", (("RECORDID", adjustment.adjustment_no),)), "creditmemo")
    if c.doc_type == "shipment":
        transaction = o2c.shipment_to_ictransaction(doc, commerce, order.get("increment_id"))
        docid = f"{transaction.transaction_type}-{transaction.document_no}"
        return Planned(o2c.entity_for(doc, commerce), functions_inventory.ictransaction_function(key, transaction),
                       Lookup("INVDOCUMENT", "DOCID", (("DOCID", docid),)), "shipment")
    raise ValueError(f"{INTEGRATION} does not post {c.doc_type!r} documents")


# -- revisions of a posted AR invoice (docs/revisions-commerce.md) -----------------------------


@dataclass(frozen=True)
class Unchanged:
    """A newer content of a posted order that maps to the AR invoice Intacct already holds (a
    status change, a shipment, a comment, a refund recorded on the order): nothing to write."""


@dataclass(frozen=True)
class Reversal:
    """A cancelled order's AR invoice ``invoice_no``, reversed in the entity that holds it."""

    entity: str | None
    invoice_no: str


def invoice_revision(effect: str, invoice_no: str, new: Planned | None, applied: Planned | None) -> Unchanged | Reversal:
    """What a change (``new``: the latest content's write; ``applied``: the write of the content
    Intacct holds, None when unknown) or a cancellation of an order whose AR invoice posted does
    in Intacct. A change that alters the invoice needs a person (Intacct's legacy AR invoice has no
    update this integration writes): the invoice is left as it is, with the reason."""
    if effect == "cancel":
        return Reversal(applied.entity if applied else None, invoice_no)
    if new is not None and applied is not None and (new.entity, new.function.body) == (applied.entity,
                                                                                        applied.function.body):
        return Unchanged()
    raise NeedsPerson(f"AR invoice {invoice_no}: its order changed in Commerce after the invoice posted: correct the "
                      "invoice in Intacct by hand, or reverse it there and invoice the order again "
                      "(this integration does not rewrite AR invoices)", system="intacct", operation=INTEGRATION,
                      code="invoice-changed")


def reversal_blocker(state: dict | None, invoice_no: str) -> str | None:
    """Why the AR invoice Intacct holds (``state``: RECORDNO, STATE, TOTALPAID) cannot be reversed
    automatically, in one line naming it and what to do; None when it can (or is already gone
    or reversed: nothing left to do)."""
    if state is None or (state.get("STATE") or "").lower() == "reversed":
        return None
    paid = Decimal(state.get("TOTALPAID") or "0")
    if paid != 0:
        return (f"AR invoice {invoice_no} (RECORDNO {state.get('RECORDNO', '?')}) is paid ({paid:f}) and its order was "
                "cancelled in Commerce: reverse the payment in Intacct, then replay, or reverse the invoice by hand")
    return None
