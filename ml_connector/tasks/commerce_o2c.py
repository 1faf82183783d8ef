"""Adobe Commerce -> Sage Intacct order to cash: the tasks that read Commerce into the ledger.

Each Commerce kind is read through the connector's keyset change feed (``updated_at``, then id;
:mod:`ml_connector.connectors.adobe.changes`, shared with payables), one page per task, from
the kind's stored cursor (pipelines/commerce_o2c.py walks the kinds; mappings/commerce_o2c_rows.py
says what each entity becomes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.adobe import PAGE_SIZE, BadCursor, ChangeFeed, SearchPage
from ..ledger.schema import POSTED, POSTING, RECEIVED
from ..ledger.store import Ledger
from ..mappings.commerce_o2c_rows import FOLLOWUPS, INTEGRATION, KINDS, POST_ORDER, dumps, loads
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

__all__ = ["FOLLOWUPS", "INTEGRATION", "KINDS", "POST_ORDER", "dumps", "loads", "Refresh", "item_keys",
           "open_feed", "read_changes_page", "refresh_linked_customers"]

log = logging.getLogger("ml_connector.tasks.commerce_o2c")


def _moment(value: date | datetime | None) -> datetime | None:
    """A window bound as the feed takes it (a date is its midnight UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=UTC)


def open_feed(res: Tenant, kind: str, cursor: str | None, since: date | datetime | None = None,
              until: date | datetime | None = None, page_size: int = PAGE_SIZE) -> ChangeFeed:
    """The change feed of ``kind`` after ``cursor`` (or the backfill window); its ``until`` is
    fixed now, so the walk ends while Commerce keeps writing."""
    client = res.adobe()
    since, until = _moment(since), _moment(until)
    try:
        return client.changes(kind, cursor, since=since, until=until, page_size=page_size)
    except BadCursor:
        log.warning("%s: the stored %s cursor is unreadable; reading from the beginning", res.name, kind)
        return client.changes(kind, None, until=until, page_size=page_size)


# Never cached: a page of the feed is what Commerce holds now, and the feed is not hashable.
@task(cache_policy=NO_CACHE, **retry_options())
def read_changes_page(feed: ChangeFeed, after: str | None) -> SearchPage:
    """One keyset page of ``feed`` after the walk position ``after`` (a retry reads it again)."""
    return feed.page(after)


def item_keys(ledger: Ledger) -> tuple[set[str], set[str]]:
    """(SKUs that are, or are about to be, Intacct items: what order lines may name; every SKU
    the ledger holds an item row for, whatever its status)."""
    rows = ledger.documents(INTEGRATION, doc_type="item")
    return {r.natural_key for r in rows if r.status in (POSTED, RECEIVED, POSTING)}, {r.natural_key for r in rows}


@dataclass(frozen=True)
class Refresh:
    """A posted customer's newer Commerce record, stored once its page is durable."""

    doc_id: int
    raw: bytes
    run_id: str


@task(cache_policy=NO_CACHE, **retry_options())
def refresh_linked_customers(tenant: str, items: list[Refresh]) -> None:
    """Store the newest Commerce record of linked customers that changed (the ledger's ingest
    keeps a posted payload as it was; the conflict rule reads the newest). The run id marks them
    for the customer master step of the same run."""
    ledger = tenant_resources(tenant).ledger
    for item in items:
        ledger.replace_payload(item.doc_id, item.raw, run_id=item.run_id)
