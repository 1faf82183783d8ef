"""Adobe Commerce -> Sage Intacct, order to cash.

The source is six listings, one per Commerce kind, read in dependency order (products,
customers, orders, invoices, shipments, credit memos), each through the connector's keyset
change feed from a cursor of its own (named after the kind) that is stored once its page is
durable in the ledger. What each entity becomes is mappings/commerce_o2c_rows.py.

Nothing posts while the kinds are read: a payment posts after the AR invoice of its order, and
that order may be read on a later page. The drain posts everything received type by type in
the same order (items, customers, AR invoices, payments applied to them, inventory transactions
for shipments, AR adjustments for credit memos), each transaction in the session of the Intacct
entity its store maps to (tasks/commerce_o2c_post.py). A document whose AR invoice, customer or
item is not in Intacct yet waits in the ledger (received, ``waiting``) and posts in the run
that finds it.

Orders live: each content of an order is a ledger revision ordered by ``updated_at``. A
cancelled order's posted AR invoice is reversed; a content that leaves the invoice as it is (a
shipment, the write-back's comment) is a plain re-read; any other change, or a paid invoice,
needs a person (docs/revisions-commerce.md).

A dead run's intents are looked up in Intacct by number (``find``). Then two follow-ups: the
customer master both ways (tasks/commerce_o2c_customers.py) and the Intacct invoice key written
back to each order as a comment: the ``WRITEBACK`` pipeline (its own ledger integration, run
as a step of this run: recovery, one page, drain; a comment is idempotent, so an unfinished
one is written again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..connectors.adobe import SearchPage
from ..engine import Batch, Page, Pipeline, Run, run_step
from ..engine.task_args import as_is
from ..ledger.schema import POSTED
from ..ledger.store import Claimed, Outcome
from ..mappings.commerce_o2c_rows import (
    FOLLOWUPS,
    INTEGRATION,
    KINDS,
    Seen,
    changed_linked,
    item_skus,
    page_rows,
    unchanged_as_duplicates,
)
from ..mappings.resend import o2c_transactions
from ..ops.reconcile_ref import Reconciliation
from ..tasks.commerce_o2c import Refresh, item_keys, open_feed, read_changes_page, refresh_linked_customers
from ..tasks.commerce_o2c_customers import sync_customers
from ..tasks.commerce_o2c_post import ENVELOPE, find_written, post_o2c, post_pending
from ..tasks.commerce_o2c_preview import preview_o2c
from ..tasks.commerce_o2c_writeback import comment_rows, post_comments, write_again

log = logging.getLogger("ml_connector.pipelines.commerce_o2c")

COMMENTS_PER_RUN = 5000  # order comments a run adds; the next run takes the rest


@dataclass(frozen=True)
class KindPage:
    """A page of one Commerce kind; ``skus`` (orders only) are the SKUs order lines may name."""

    kind: str
    page: SearchPage
    skus: frozenset[str] | None = None


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """Each kind's changes after its own cursor (the backfill window's, in a backfill), page by
    page; a page's cursor is the kind's, stored by the engine once the page is durable.

    Orders are checked against the SKUs that are items by the time they are read: the ledger's,
    and (in a dry run, which records nothing) those of the products read before them."""
    res = run.resources
    commerce, new_items = res.commerce("o2c"), set()
    for kind, doc_type in KINDS.items():
        feed = open_feed(res, kind, run.stored_cursor(kind), run.since, run.until, run.page_size)
        skus = None
        if doc_type == "order":
            live, known = item_keys(run.ledger)
            skus = frozenset(live | (new_items - known))
        after = None
        for _ in range(feed.max_pages):
            page = read_changes_page(as_is(feed), after)
            if page.stalled:
                log.warning("%s: a page of %s without a readable updated_at stopped the walk at its cursor",
                            run.tenant, kind)
            if doc_type == "item":
                new_items |= item_skus(page_rows(doc_type, page, commerce, None, Seen()))
            yield Page(KindPage(kind, page, skus), cursor=page.cursor, store_cursor=page.cursor is not None,
                       cursor_name=kind)
            if not page.more:
                break
            after = page.after


def to_rows(run: Run, page: Page) -> Batch:
    """A page's entities as ledger rows; a linked customer whose Commerce record changed is
    settled (its newest record stored) once the page is durable."""
    read: KindPage = page.items
    doc_type, seen = KINDS[read.kind], Seen()
    commerce = run.resources.commerce("o2c")
    rows = page_rows(doc_type, read.page, commerce, read.skus, seen)
    if doc_type == "order" and rows:
        stored = run.ledger.rows_by_key(INTEGRATION, [("order", "", r.natural_key) for r in rows])
        rows = unchanged_as_duplicates(rows, {(t, k): row for (t, _, k), row in stored.items()}, commerce)
    batch = Batch(rows=rows, counters={"not_yet_documents": seen.not_yet})
    if doc_type == "customer" and rows:
        posted = run.ledger.documents(INTEGRATION, doc_type="customer", status=POSTED)
        batch.settle = [Refresh(doc_id, raw, run.run_id) for doc_id, raw in changed_linked(rows, posted)]
    return batch


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """What a dead run's writes created: AR invoices, payments, adjustments, inventory
    transactions, items and customers looked up in Intacct by their numbers; an order's change
    or cancellation by the state it leaves (the AR invoice reversed)."""
    return find_written(run.resources, stale)


def drain(run: Run, envelope: int = ENVELOPE) -> None:
    """Post every received document type by type over the whole backlog, ``envelope``
    functions per Intacct request (a payment sees the AR invoice posted just before it)."""
    run.posted.append(post_pending(run.tenant, run.run_id, envelope))


def customer_master(run: Run) -> dict:
    """The customer master both ways, for Intacct customers changed since the last sync and
    the linked customers whose Commerce record changed: those this run stored a newer record
    for after they had posted (``refresh_linked_customers``)."""
    touched = run.ledger.documents(INTEGRATION, doc_type="customer", status=POSTED, run_id=run.run_id)
    changed = [d.id for d in touched if d.posted_at is not None and d.updated_at > d.posted_at]
    counts = sync_customers(run.tenant, run.run_id, changed)
    return {k: v for k, v in counts.items() if v}


def read_comments(run: Run, cursor: str | None) -> Iterator[Page]:
    """The comments of posted orders that have none yet, as one page (there is no cursor: an
    order with a comment row is not listed again)."""
    yield Page(comment_rows(run.resources, COMMENTS_PER_RUN), store_cursor=False)


def find_comments(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    return write_again(stale)


# The write-back is a ledger integration of its own (``commerce-o2c-writeback``): its rows are
# Commerce order comments, posted through the same intent/outcome path and recovered the same way.
WRITEBACK = Pipeline(name=FOLLOWUPS, read=read_comments, to_rows=lambda run, page: Batch(rows=page.items),
                     post=post_comments, find=find_comments)


def write_back(run: Run) -> dict:
    """Each posted order's AR invoice key, as an order comment in Commerce: the write-back
    pipeline as a step of this run (its recovery, its page, its drain)."""
    return {f"writeback_{k}": v for k, v in run_step(WRITEBACK, run).items() if v}


def report(run: Run) -> dict:
    """How many documents wait for another one (a payment for its AR invoice)."""
    return {"waiting": sum(posted.get("waiting", 0) for posted in run.posted)}


def preview(tenant: str, mapping: Any, content: bytes, name: str) -> str:
    """``ml-connector preview``: the Intacct function(s) the Commerce JSON document(s) become."""
    return preview_o2c(content, mapping, name)


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=post_o2c, find=find,
                    reconcile=Reconciliation("reconcile_commerce_o2c", "o2c_frames"),
                    settle=refresh_linked_customers, post_per_page=False, drain=drain,
                    followups=(customer_master, write_back), report=report, preview=preview, resend=o2c_transactions)


def with_envelope(envelope: int) -> Pipeline:
    """The pipeline posting ``envelope`` Intacct functions per request."""
    return PIPELINE if envelope == ENVELOPE else replace(PIPELINE, drain=partial(drain, envelope=envelope))
