"""Adobe Commerce -> Sage Intacct order to cash: reading Commerce into the ledger.

One task per Commerce kind walks the connector's keyset change feed (``updated_at``, then id;
:mod:`ml_connector.connectors.adobe.changes`, shared with payables) from the kind's stored
cursor. Every entity of a page becomes a ledger row before that page's cursor is stored:

* ``products`` -> ``item`` rows (SKU), configurable parents skipped (their children are the stock);
* ``customers`` -> ``customer`` rows (Commerce id), or a re-check of a linked customer that changed;
* ``orders`` that reached an invoiceable state -> ``order`` rows (entity_id); an order Commerce
  closed after invoicing it (a full refund) is invoiced as it was, its refund being the credit memo;
  a new order that could never post (no store mapping, unreadable amounts, unknown SKU) is
  quarantined at once; other new or canceled orders are not documents yet and come back when
  their state changes (``updated_at`` moves);
* paid (captured) invoices -> ``payment`` rows; open ones wait for their capture;
* ``shipments`` -> ``shipment`` rows; refunded credit memos -> ``creditmemo`` rows.

Each document is checked by mapping it once here (bad input is quarantined with its one-line
reason and the raw JSON kept for replay); the posting tasks map it again from the ledger.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefect import task

from ..connectors.adobe import MAX_PAGES, PAGE_SIZE, BadCursor
from ..connectors.errors import BadDocument
from ..ledger.schema import POSTED, POSTING, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming
from ..mappings import commerce_o2c_customers as customers
from ..mappings import commerce_to_intacct_o2c as o2c
from ..mappings.commerce_common import billable_items
from ..mappings.commerce_tenant import CommerceSettings
from .posting import one_line
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_o2c")

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


# -- what one Commerce entity becomes (pure; also used by dry runs and preview) --------------


@dataclass
class Seen:
    """What a walk met besides ledger rows: counts for the run report."""

    not_yet: int = 0  # new/pending orders, open invoices: documents later
    rejects: int = 0


def _row(doc_type: str, key: Any, doc: dict, raw: bytes, **extra) -> Incoming:
    return Incoming(doc_type=doc_type, partner="", natural_key=str(key)[:256], source_ref=f"{doc_type}:{key}",
                    raw_payload=raw, doc_date=_day(doc), **extra)


def _day(doc: dict) -> str | None:
    value = doc.get("created_at") if isinstance(doc, dict) else None
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _quarantine(doc_type: str, key: Any, doc: dict, raw: bytes, exc: BadDocument) -> Incoming:
    return _row(doc_type, key, doc, raw, status=QUARANTINED, error_class=exc.classification, last_error=one_line(exc))


def was_invoiced(order: dict) -> bool:
    """Did Commerce invoice this order (whatever its state now)?"""
    try:
        return float(order.get("total_invoiced") or 0) > 0
    except (TypeError, ValueError):
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
    key = order.get("entity_id")
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
        return _quarantine("order", key, order, raw, exc)
    number = o2c.invoice_number(str(order.get("increment_id")), commerce)
    return _row("order", key, order, raw, target_ref=number)


def entity_row(doc_type: str, doc: dict, raw: bytes, commerce: CommerceSettings,
               known_skus: set[str] | None = None) -> Incoming | None:
    """The ledger row of one Commerce entity of ``doc_type``, or None when it is no document yet."""
    try:
        if doc_type == "order":
            return order_row(doc, raw, commerce, known_skus)
        if doc_type == "item":
            try:
                item = o2c.product_to_item(doc, commerce)
            except BadDocument as exc:
                if exc.code != "unmapped-type":
                    raise
                return _row("item", doc.get("sku"), doc, raw, status=SKIPPED, last_error=one_line(exc))
            return _row("item", item.item_id, doc, raw, target_ref=item.item_id)
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


# -- the reading task ------------------------------------------------------------------------


def known_skus(res: Tenant) -> set[str]:
    """SKUs that are (or are about to be) Intacct items: what order lines may name."""
    live = (POSTED, RECEIVED, POSTING)
    return {r.natural_key for r in res.ledger.documents(INTEGRATION, doc_type="item", status=live)}


@dataclass
class ReadReport:
    read: int = 0
    new_ids: list[int] = field(default_factory=list)
    not_yet: int = 0
    pages: int = 0
    changed_customers: list[int] = field(default_factory=list)  # linked customers edited in Commerce


def _changed_linked(res: Tenant, rows: list[Incoming]) -> list[int]:
    """Ledger ids of posted customers whose Commerce record changed since it was stored: the
    conflict rule looks at them again (the ledger keeps the newest payload for that)."""
    from ..ledger.store import payload_hash

    keys = {r.natural_key: r for r in rows if r.doc_type == "customer" and r.status == RECEIVED}
    if not keys:
        return []
    posted = [d for d in res.ledger.documents(INTEGRATION, doc_type="customer", status=POSTED) if d.natural_key in keys]
    changed = [d for d in posted if d.payload_hash != payload_hash(keys[d.natural_key].raw_payload)]
    for d in changed:
        _replace_payload(res, d.id, keys[d.natural_key].raw_payload)
    return [d.id for d in changed]


def _replace_payload(res: Tenant, doc_id: int, raw: bytes) -> None:
    # The ledger's ingest keeps a posted document's payload as it was (dedup); a linked customer
    # is the one kind whose newest version matters after posting (the conflict rule reads it).
    res.ledger.replace_payload(doc_id, raw)


@task(**retry_options())
def ingest_changes(tenant: str, kind: str, run_id: str, since: datetime | None = None,
                   until: datetime | None = None, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> ReadReport:
    """Walk one Commerce kind's changes into the ledger, storing the cursor after each page.

    A backfill (``since``/``until``) reads its window and leaves the live cursor alone."""
    res = tenant_resources(tenant)
    commerce, client, doc_type = res.commerce("o2c"), res.adobe(), KINDS[kind]
    backfill = since is not None or until is not None
    cursor = None if backfill else res.ledger.get_cursor(INTEGRATION, name=kind)
    try:
        feed = client.changes(kind, cursor, since=since, until=until, page_size=page_size, max_pages=max_pages)
    except BadCursor:
        log.warning("%s: the stored %s cursor is unreadable; reading from the beginning", tenant, kind)
        feed = client.changes(kind, None, until=until, page_size=page_size, max_pages=max_pages)
    skus = known_skus(res) if doc_type == "order" else None
    report, seen = ReadReport(), Seen()
    for page in feed:
        rows = page_rows(doc_type, page, commerce, skus, seen)
        if doc_type == "customer":
            report.changed_customers += _changed_linked(res, rows)
        result = res.ledger.ingest(INTEGRATION, rows, run_id) if rows else None
        report.read += len(rows)
        report.pages += 1
        report.new_ids += result.new_ids if result else []
        if not backfill and page.cursor:
            res.ledger.set_cursor(INTEGRATION, page.cursor, name=kind)  # the page is durable
    if feed.stalled:
        log.warning("%s: a page of %s without a readable updated_at stopped the walk at its cursor", tenant, kind)
    report.not_yet = seen.not_yet
    return report


@task(**retry_options())
def dry_run_changes(tenant: str, kind: str, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> dict[str, int]:
    """What a run would make of one kind's pending changes, writing nothing anywhere."""
    res = tenant_resources(tenant)
    commerce, doc_type = res.commerce("o2c"), KINDS[kind]
    cursor, client = res.ledger.get_cursor(INTEGRATION, name=kind), res.adobe()
    skus = None
    if doc_type == "order":  # what a real run would have synced as items by the time it reads orders
        skus = known_skus(res) | {p.sku for page in client.pages("products", page_size=page_size) for p in page.items}
    tally, seen = {"read": 0, "would_post": 0, "would_skip": 0, "would_quarantine": 0}, Seen()
    for page in client.changes(kind, cursor, page_size=page_size, max_pages=max_pages):
        for row in page_rows(doc_type, page, commerce, skus, seen):
            tally["read"] += 1
            tally[{RECEIVED: "would_post", SKIPPED: "would_skip"}.get(row.status, "would_quarantine")] += 1
    tally["not_yet"] = seen.not_yet
    return tally
