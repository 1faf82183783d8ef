"""Prefect tasks reading Adobe Commerce for ``commerce-intacct-ap``: a page of changed orders,
invoices or credit memos, and the entities webhook notifications name.

Changes are read through the connector's keyset change feed (:mod:`ml_connector.connectors.adobe.changes`,
shared with order to cash), one page per task: the feed starts ``OVERLAP`` before the stored
cursor, a page's ``after`` is the walk's position (what the next page starts after) and its
``cursor`` what is stored once the page is durable (never behind the stored one).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prefect import task

from ..connectors.adobe import PAGE_SIZE, AdobeClient, BadCursor, ChangeFeed, SearchPage
from ..mappings.commerce_ap_documents import EntityPage
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.commerce_ap")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def raw_items(page: SearchPage) -> tuple[list[dict], list]:
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


def _feed(client: AdobeClient, tenant: str, kind: str, stored: str | None, since: datetime | None, until: datetime,
          page_size: int) -> ChangeFeed:
    try:
        return client.changes(kind, stored, since=since, until=until, page_size=page_size)
    except BadCursor:
        log.warning("%s: the stored %s cursor is unreadable; reading from the beginning", tenant, kind)
        return client.changes(kind, None, since=since, until=until, page_size=page_size)


@task(**retry_options())
def fetch_changes(tenant: str, kind: str, stored: str | None, after: str | None, since: datetime | None,
                  until: datetime, page_size: int = PAGE_SIZE) -> EntityPage:
    """The change feed's page of ``kind`` changed before ``until``, from ``OVERLAP`` before the
    stored cursor ``stored`` (or from ``since``: a backfill), after the walk position ``after``
    (the ``after`` of the page before; None: the window's first page)."""
    client = tenant_resources(tenant).adobe()
    page = _feed(client, tenant, kind, stored, since, until, page_size).page(after)
    items, rejects = raw_items(page)
    return EntityPage(kind=kind, items=items, rejects=rejects, orders=orders_of(client, kind, items, rejects),
                      cursor=page.cursor, after=page.after, more=page.more)


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
