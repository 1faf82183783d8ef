"""Prefect tasks of Adobe Commerce -> Intacct procure (``commerce-intacct-ap``): read changed
orders, invoices and credit memos, and record them in the ledger.

Changes are read through the connector's keyset change feed (:mod:`ml_connector.connectors.adobe.changes`,
shared with order to cash), one page per task: a page's ``cursor`` is the key the walk reached,
which the flow passes to the next call and stores per kind once the page is durable in the
ledger and posted (a run starts ``OVERLAP`` before the stored key, so it reads a little again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from prefect import task

from ..connectors.adobe import PAGE_SIZE, AdobeClient, SearchPage
from ..connectors.errors import BadDocument
from ..mappings.commerce_tenant import CommerceSettings
from ..runtime.tenant import tenant as tenant_resources
from .commerce_ap_docs import DOC_TYPES, INTEGRATION, entity_row, rejected_row
from .retry import retry_options

KINDS = ("orders", "invoices", "creditmemos")  # in this order: a credit memo credits a bill


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


def raw_items(page: SearchPage) -> tuple[list[dict], list[tuple[str | None, Any, BadDocument]]]:
    items = [item.model_dump(mode="json") for item in page.items]
    return items, [(r.key, r.raw, r.error) for r in page.rejects]


def orders_of(client: AdobeClient, kind: str, items: list[dict], rejects: list) -> dict[str, dict]:
    """The orders of a page of invoices or credit memos, by entity id (raw, readable or not)."""
    if kind == "orders":
        return {}
    wanted = {str(d.get("order_id")) for d in items + [r[1] for r in rejects if isinstance(r[1], dict)]}
    found: dict[str, dict] = {}
    for page in client.by_ids("orders", wanted):
        items_, rejects_ = raw_items(page)
        found.update({str(o["entity_id"]): o for o in items_})
        found.update({str(r[0]): r[1] for r in rejects_ if r[0] and isinstance(r[1], dict)})
    return found


@task(**retry_options())
def fetch_changes(tenant: str, kind: str, after: str | None, since: datetime | None, until: datetime,
                  page_size: int = PAGE_SIZE) -> EntityPage:
    """The change feed's page of ``kind`` changed in [``since``, ``until``) after the walk position
    ``after`` (the ``cursor`` of the page before; None: the window's first page)."""
    client = tenant_resources(tenant).adobe()
    page = client.changes(kind, since=since, until=until, page_size=page_size).page(after)
    items, rejects = raw_items(page)
    return EntityPage(kind=kind, items=items, rejects=rejects, orders=orders_of(client, kind, items, rejects),
                      cursor=page.after, more=page.more)


@task(**retry_options())
def fetch_by_ids(tenant: str, kind: str, ids: list[str]) -> EntityPage:
    """The entities of ``kind`` with these ids (named by webhooks); a vanished one is absent."""
    client = tenant_resources(tenant).adobe()
    out = EntityPage(kind=kind)
    for page in client.by_ids(kind, ids):
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
