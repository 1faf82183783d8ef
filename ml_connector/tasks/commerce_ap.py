"""Prefect tasks of Adobe Commerce -> Intacct procure (``commerce-intacct-ap``): read changed
orders, invoices and credit memos, and record them in the ledger.

Reading is keyset paging on (``updated_at``, ``entity_id``) inside a window with a fixed upper
bound: every request is page 1 of "after the last key seen, before ``until``"::

    updated_at >= T  AND  (updated_at > T OR entity_id > X)  AND  updated_at < until
    sort updated_at ASC, entity_id ASC

Magento's offset paging has two traps this avoids: past the last page it answers the last page
again (so a walk waiting for an empty page never ends), and an entity updated during the walk
leaves the window and shifts every later entity one place left, so the next offset skips one
(and a cursor past it loses it for good). A keyset page never repeats and never skips; a page
that brings no key past the cursor ends the walk (the repeat guard), and the ledger dedups by
entity id whatever comes twice. The (``updated_at``, id) cursor is the connector's
:class:`SyncCursor`, stored per kind after each page is durable in the ledger; a new run starts
``OVERLAP`` before it, because Magento stamps to the second and a transaction can commit after
a read covered its second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from prefect import task

from ..connectors.adobe import AdobeClient, Filter, SearchCriteria, SearchPage, SyncCursor
from ..connectors.errors import BadDocument
from ..mappings.commerce_tenant import CommerceSettings
from .commerce_ap_docs import DOC_TYPES, INTEGRATION, entity_row, rejected_row
from .resources import tenant as tenant_resources
from .retry import retry_options

KINDS = ("orders", "invoices", "creditmemos")  # in this order: a credit memo credits a bill
OVERLAP = timedelta(minutes=2)
ID_CHUNK = 100  # ids per "entity_id in (...)" search (under Magento's optional 300 cap)




@dataclass
class EntityPage:
    """Raw entities of one kind as read (JSON-ready dicts), the unreadable ones, the orders
    their invoices and credit memos belong to, and the cursor that resumes after the page."""

    kind: str
    items: list[dict] = field(default_factory=list)
    rejects: list[tuple[str | None, Any, BadDocument]] = field(default_factory=list)
    orders: dict[str, dict] = field(default_factory=dict)
    cursor: str | None = None
    more: bool = False


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def window_criteria(since: datetime | None, until: datetime, after: SyncCursor | None) -> SearchCriteria:
    """The keyset search of the module docstring."""
    criteria = SearchCriteria()
    if after is not None:
        criteria = criteria.where(Filter("updated_at", after.updated_at, "gteq"))
        criteria = criteria.where(Filter("updated_at", after.updated_at, "gt"), Filter("entity_id", after.id, "gt"))
    elif since is not None:
        criteria = criteria.where(Filter("updated_at", since, "gteq"))
    criteria = criteria.where(Filter("updated_at", until, "lt"))
    return criteria.order_by("updated_at", "ASC").order_by("entity_id", "ASC")


def raw_items(page: SearchPage) -> tuple[list[dict], list[tuple[str | None, Any, BadDocument]]]:
    items = [item.model_dump(mode="json") for item in page.items]
    return items, [(r.key, r.raw, r.error) for r in page.rejects]


def orders_of(client: AdobeClient, kind: str, items: list[dict], rejects: list) -> dict[str, dict]:
    """The orders of a page of invoices or credit memos, by entity id (raw, readable or not)."""
    if kind == "orders":
        return {}
    wanted = sorted({str(d.get("order_id")) for d in items + [r[1] for r in rejects if isinstance(r[1], dict)]
                     if str(d.get("order_id") or "").isdigit()}, key=int)
    found: dict[str, dict] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start:start + ID_CHUNK]
        page = client.search("orders", SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))
        items_, rejects_ = raw_items(page)
        found.update({str(o["entity_id"]): o for o in items_})
        found.update({str(r[0]): r[1] for r in rejects_ if r[0] and isinstance(r[1], dict)})
    return found


@task(**retry_options())
def fetch_changes(tenant: str, kind: str, after: str | None, since: datetime | None, until: datetime,
                  page_size: int = 100) -> EntityPage:
    """One keyset page of ``kind`` changed in [``since``, ``until``) after the key ``after``."""
    client = tenant_resources(tenant).adobe()
    start = SyncCursor.decode(after) if after else None
    page = client.search(kind, window_criteria(since, until, start).page(1, page_size))
    items, rejects = raw_items(page)
    cursor = SyncCursor.after(start, page)
    progressed = cursor is not None and cursor != start
    return EntityPage(kind=kind, items=items, rejects=rejects, orders=orders_of(client, kind, items, rejects),
                      cursor=cursor.encode() if cursor else after,
                      more=progressed and page.received >= page_size)


@task(**retry_options())
def fetch_by_ids(tenant: str, kind: str, ids: list[str]) -> EntityPage:
    """The entities of ``kind`` with these ids (named by webhooks); a vanished one is absent."""
    client = tenant_resources(tenant).adobe()
    numeric = sorted({i for i in ids if str(i).isdigit()}, key=int)
    out = EntityPage(kind=kind)
    for start in range(0, len(numeric), ID_CHUNK):
        chunk = numeric[start:start + ID_CHUNK]
        page = client.search(kind, SearchCriteria().where(Filter("entity_id", chunk, "in")).page(1, len(chunk)))
        items, rejects = raw_items(page)
        out.items += items
        out.rejects += rejects
    out.orders = orders_of(client, kind, out.items, out.rejects)
    return out


def page_rows(page: EntityPage, commerce: CommerceSettings) -> list:
    """The ledger rows of a page (pure)."""
    doc_type = DOC_TYPES[page.kind]
    rows = [entity_row(doc_type, raw, page.orders.get(str(raw.get("order_id"))) if page.kind != "orders" else raw,
                       commerce) for raw in page.items]
    rows += [rejected_row(doc_type, key, raw, error) for key, raw, error in page.rejects]
    return rows


@task
def ingest_entities(tenant: str, page: EntityPage, run_id: str) -> list[int]:
    """Record a page in the ledger (to post, skipped or quarantined); returns the ids to post."""
    res = tenant_resources(tenant)
    return res.ledger.ingest(INTEGRATION, page_rows(page, res.commerce("procure")), run_id).new_ids
