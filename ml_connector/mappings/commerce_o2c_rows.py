"""Adobe Commerce -> Sage Intacct order to cash: what each Commerce entity becomes in the ledger. Pure.

Every entity read becomes a ledger row, or nothing while it is not a document yet:

* ``products`` -> ``item`` rows (SKU), configurable parents skipped (their children are the stock);
* ``customers`` -> ``customer`` rows (Commerce id);
* ``orders`` that reached an invoiceable state -> ``order`` rows (entity_id); an order Commerce
  closed after invoicing it (a full refund) is invoiced as it was, its refund being the credit memo;
  a new order that could never post (no store mapping, unreadable amounts, unknown SKU) is
  quarantined at once; other new orders are not documents yet and come back when their state
  changes (``updated_at`` moves). Order rows carry revisions: ``updated_at`` orders them, a
  canceled order is a cancellation (its AR invoice reversed, or nothing when none posted);
* paid (captured) invoices -> ``payment`` rows; open ones wait for their capture;
* ``shipments`` -> ``shipment`` rows; refunded credit memos -> ``creditmemo`` rows.

Each document is checked by mapping it once here (bad input is quarantined with its one-line
reason and the raw JSON kept for replay); posting maps it again from the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..connectors.errors import BadDocument, one_line
from ..ledger.revisions import CANCEL, CREATE
from ..ledger.schema import POSTED, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming, payload_hash
from . import commerce_o2c_customers as customers
from . import commerce_to_intacct_o2c as o2c
from .commerce_common import amount, billable_items
from .commerce_tenant import CommerceSettings

INTEGRATION = "commerce-intacct-o2c"
FOLLOWUPS = "commerce-o2c-writeback"  # write-backs to Commerce (order comments, customer attributes)
# Commerce kind -> ledger doc type, in the order a run reads and posts them (dependencies first).
KINDS = {"products": "item", "customers": "customer", "orders": "order", "invoices": "payment",
         "shipments": "shipment", "creditmemos": "creditmemo"}
POST_ORDER = tuple(KINDS.values())
_NOT_YET = ("canceled", "closed")  # never invoiced; a closed order with invoiced money is handled apart
CREDITMEMO_CANCELED = 3


def dumps(doc: Any) -> bytes:
    """A Commerce entity as the JSON the ledger keeps (and the mappings read back)."""
    if hasattr(doc, "model_dump"):
        doc = doc.model_dump(mode="json", exclude_none=True)
    return json.dumps(doc, default=str, separators=(",", ":")).encode("utf-8")


def loads(raw: bytes | None) -> dict:
    """The stored JSON of a ledger row; anything else is a bad document."""
    try:
        doc = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        raise BadDocument("the stored Commerce document is not JSON", system="adobe", operation=INTEGRATION) from None
    if not isinstance(doc, dict):
        raise BadDocument("the stored Commerce document is not a JSON object", system="adobe", operation=INTEGRATION)
    return doc


@dataclass
class Seen:
    """What a page held besides ledger rows: counts for the run report."""

    not_yet: int = 0  # new/pending orders, open invoices: documents later
    rejects: int = 0


def _row(doc_type: str, key: Any, doc: dict, raw: bytes, **extra) -> Incoming:
    return Incoming(doc_type=doc_type, partner="", natural_key=str(key)[:256], source_ref=f"{doc_type}:{key}",
                    raw_payload=raw, doc_date=_day(doc), **extra)


def _day(doc: dict) -> str | None:
    value = doc.get("created_at") if isinstance(doc, dict) else None
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _quarantine(doc_type: str, key: Any, doc: dict, raw: bytes, exc: BadDocument, **extra) -> Incoming:
    return _row(doc_type, key, doc, raw, status=QUARANTINED, error_class=exc.classification, last_error=one_line(exc),
                **extra)


def was_invoiced(order: dict) -> bool:
    """Did Commerce invoice this order (whatever its state now)? An unreadable amount says no."""
    try:
        return amount(order, "total_invoiced", "order") > 0
    except BadDocument:
        return False


def as_invoiceable(order: dict, commerce: CommerceSettings) -> dict | None:
    """The order as it becomes an AR invoice, or None while it is not one yet. An order
    closed after invoicing (refunded in full) is taken in the first invoiceable state: it was
    invoiced, and its refund arrives as a credit memo."""
    if o2c.is_invoiceable(order, commerce):
        return order
    if order.get("state") == "closed" and was_invoiced(order):
        return {**order, "state": commerce.o2c.invoiceable_states[0]}
    return None


def unknown_skus(order: dict, known: set[str] | None) -> list[str]:
    """The SKUs of the order's billable lines that are not items (None: not checked)."""
    if known is None:
        return []
    lines = billable_items(order, f"order {order.get('increment_id')}")
    return [str(i.get("sku")) for i in lines if i.get("sku") not in known]


def check_order(order: dict, commerce: CommerceSettings, known_skus: set[str] | None) -> None:
    """Raise BadDocument if ``order`` (invoiceable, or forced so) cannot become an AR invoice."""
    o2c.order_to_ar_invoice(order, commerce, customer_id="CHECK")
    missing = unknown_skus(order, known_skus)
    if missing:
        raise BadDocument(f"order {order.get('increment_id')}: SKU {', '.join(missing)[:120]} is not a Commerce "
                          "product synced to Intacct", system="mapping", operation=INTEGRATION, code="unknown-sku")


def order_row(order: dict, raw: bytes, commerce: CommerceSettings, known_skus: set[str] | None) -> Incoming | None:
    """An order's ledger row: its AR invoice once invoiceable, its cancellation once canceled
    (the ledger skips it when no invoice was posted), None while it is neither. Each content is a
    revision ordered by ``updated_at`` (docs/revisions-commerce.md)."""
    key = order.get("entity_id")
    number = o2c.invoice_number(str(order.get("increment_id")), commerce)
    version = source_version(order)
    if order.get("state") == "canceled":
        return _row("order", key, order, raw, target_ref=number, effect=CANCEL, source_version=version)
    invoiceable = as_invoiceable(order, commerce)
    try:
        if invoiceable is None:
            if order.get("state") in _NOT_YET:
                return None
            # Not an invoice yet: but one that could never post is reported now, not at capture.
            check_order({**order, "state": commerce.o2c.invoiceable_states[0]}, commerce, known_skus)
            return None
        check_order(invoiceable, commerce, known_skus)
    except BadDocument as exc:
        return _quarantine("order", key, order, raw, exc, effect=CREATE, source_version=version)
    return _row("order", key, order, raw, target_ref=number, effect=CREATE, source_version=version)


def source_version(doc: dict) -> str | None:
    """The order of a Commerce entity's contents: its ``updated_at`` (``YYYY-MM-DD HH:MM:SS``
    UTC, which sorts as text), which every save moves."""
    value = doc.get("updated_at")
    return value if isinstance(value, str) and value else None


def item_row(doc: dict, raw: bytes, commerce: CommerceSettings) -> Incoming:
    """A product as an Intacct item; a product type that is no item (a configurable parent) is skipped."""
    try:
        item = o2c.product_to_item(doc, commerce)
    except BadDocument as exc:
        if exc.code != "unmapped-type":
            raise
        return _row("item", doc.get("sku"), doc, raw, status=SKIPPED, last_error=one_line(exc))
    return _row("item", item.item_id, doc, raw, target_ref=item.item_id)


def entity_row(doc_type: str, doc: dict, raw: bytes, commerce: CommerceSettings,
               known_skus: set[str] | None = None) -> Incoming | None:
    """The ledger row of one Commerce entity of ``doc_type``, or None when it is no document yet."""
    try:
        if doc_type == "order":
            return order_row(doc, raw, commerce, known_skus)
        if doc_type == "item":
            return item_row(doc, raw, commerce)
        if doc_type == "customer":
            made = customers.customer_to_intacct(doc, commerce)
            return _row("customer", doc.get("id"), doc, raw, target_ref=made.customer_id)
        if doc_type == "payment":
            if not o2c.is_paid(doc):
                return None
            ref = o2c.invoice_to_ar_payment(doc, {}, commerce, "CHECK", customer_id="CHECK").ref_id
        elif doc_type == "shipment":
            made = o2c.shipment_to_ictransaction(doc, commerce, "CHECK")
            ref = f"{made.transaction_type}-{made.document_no}"
        elif doc_type == "creditmemo":
            if str(doc.get("state")) == str(CREDITMEMO_CANCELED):
                return None
            ref = o2c.creditmemo_to_ar_adjustment(doc, commerce, "CHECK", "CHECK").adjustment_no
        else:
            raise ValueError(f"{INTEGRATION} does not read {doc_type!r} documents")
    except BadDocument as exc:
        return _quarantine(doc_type, _key(doc_type, doc), doc, raw, exc)
    # target_ref: the number the Intacct record carries (reconciliation and lookups find it by it)
    return _row(doc_type, _key(doc_type, doc), doc, raw, target_ref=ref)


def _key(doc_type: str, doc: dict) -> Any:
    if doc_type == "item":
        return doc.get("sku") or doc.get("id") or "?"
    if doc_type == "customer":
        return doc.get("id") or "?"
    return doc.get("entity_id") or "?"


def page_rows(doc_type: str, page, commerce: CommerceSettings, known_skus: set[str] | None,
              seen: Seen) -> list[Incoming]:
    """The ledger rows of one search page: its entities, and its rejects (quarantined raw)."""
    rows = []
    for item in page.items:
        doc = json.loads(dumps(item))
        row = entity_row(doc_type, doc, dumps(doc), commerce, known_skus)
        if row is None:
            seen.not_yet += 1
        else:
            rows.append(row)
    for reject in page.rejects:
        seen.rejects += 1
        raw = dumps(reject.raw if reject.raw is not None else {})
        doc = reject.raw if isinstance(reject.raw, dict) else {}
        rows.append(_quarantine(doc_type, reject.key or f"unreadable-{len(rows)}", doc, raw, reject.error))
    return rows


def item_skus(rows: Iterable[Incoming]) -> set[str]:
    """The SKUs that become Intacct items among a products page's rows (what order lines may name)."""
    return {r.natural_key for r in rows if r.doc_type == "item" and r.status == RECEIVED}


def changed_linked(rows: Iterable[Incoming], posted: Iterable) -> list[tuple[int, bytes]]:
    """(ledger id, newest payload) of the posted customers among ``posted`` whose Commerce
    record in ``rows`` differs from the stored one: the conflict rule looks at them again, and
    the ledger keeps their newest payload for it (ingest keeps a posted payload as it was)."""
    keys = {r.natural_key: r for r in rows if r.doc_type == "customer" and r.status == RECEIVED}
    return [(d.id, keys[d.natural_key].raw_payload) for d in posted
            if d.natural_key in keys and d.payload_hash != payload_hash(keys[d.natural_key].raw_payload)]


def same_invoice(stored: bytes | None, new: bytes | None, commerce: CommerceSettings) -> bool:
    """Whether two contents of an order make the same AR invoice (a status change, a shipment, a
    comment or a refund recorded on the order leaves it as it was). Unreadable content: no."""
    try:
        made = []
        for raw in (stored, new):
            order = loads(raw)
            made.append(o2c.order_to_ar_invoice(as_invoiceable(order, commerce) or order, commerce, customer_id="SAME"))
    except BadDocument:
        return False
    return made[0] == made[1]


def unchanged_as_duplicates(rows: list[Incoming], stored: dict[tuple[str, str], Any],
                            commerce: CommerceSettings) -> list[Incoming]:
    """The rows of a page with each order whose AR invoice posted and would stay as it is made a
    plain re-read (no revision information: the ledger counts it a duplicate and keeps the posted
    content), so the write-back's comment or a shipment is no revision of the invoice.
    ``stored``: the ledger rows of the page's orders by (doc type, natural key)."""
    out = []
    for row in rows:
        held = stored.get((row.doc_type, row.natural_key)) if row.effect == CREATE else None
        if held is not None and held.status == POSTED and same_invoice(held.raw_payload, row.raw_payload, commerce):
            row = replace(row, effect=None, source_version=None)
        out.append(row)
    return out
