"""Adobe Commerce -> Sage Intacct (procure): orders, invoices and credit memos become AP bills,
purchase orders (B2B orders paid by purchase order) and AP adjustments, on the vendor of the
Commerce customer (matched, or created once: tasks/commerce_ap_vendors.py). What each document
becomes is mappings/commerce_ap_documents.py.

Two sources, one path after them:

- webhook notifications in this integration's Adobe inbox (ml_connector/inbox.py): the
  entities they name are read by id and recorded before the listing (the engine's inbox step,
  engine/inbox.py; the webhook fast path, tasks/adobe_webhook.py, records and posts them the
  same way without a flow run);
- the keyset change feed (connectors/adobe/changes.py), one listing per kind with a cursor of
  its own, read in the order orders, invoices, credit memos (a credit memo credits a bill);
  each page is recorded, posted, and only then is the kind's cursor stored.

A document is mapped at post time, once its vendor is known; at ingest it is mapped once to
find bad input and its target reference, which is what ``find`` looks up in Intacct for a dead
run's intents. A dead run's vendor intents are settled first, through the vendor pipeline's
own ``find`` (a run can die making a vendor before it claimed any document). Documents left
received (a vendor another run is creating, the bill a credit memo credits not posted yet, a
transient failure) are posted at the end, a few passes while a pass still posts something.

Commerce documents live: the feed re-reads an entity whenever its ``updated_at`` moves, and
each content is a ledger revision ordered by ``updated_at`` (a canceled order, invoice or credit
memo a cancellation). A changed bill is updated, a cancelled one deleted or reversed (the
tenant's ``bill_cancel``); a paid bill, a purchase order or an AP adjustment that changed needs
a person (docs/revisions-commerce.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from ..engine import Batch, Page, Pipeline, Run
from ..engine.pipeline import InboxSource
from ..engine.recovery import recover_intents
from ..engine.task_args import as_is
from ..inbox import adobe
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.commerce_ap_documents import (
    INTEGRATION,
    KINDS,
    EntityPage,
    named_entities,
    page_rows,
    preview_ap,
    unchanged_as_duplicates,
)
from ..mappings.resend import commerce_ap_creates
from ..ops.reconcile_ref import Reconciliation
from ..tasks.commerce_ap import fetch_by_ids, fetch_changes, utcnow
from ..tasks.commerce_ap_post import find_targets, post_ap_documents
from ..tasks.commerce_ap_revisions import find_changes
from ..tasks.commerce_ap_vendors import MASTER
from ..tasks.ops import finished_runs
from . import commerce_ap_vendors

INBOX = adobe(INTEGRATION)
PENDING_PASSES = 3  # a credit memo waits for its bill, which the pass before it may post


def _instant(bound: date | None) -> datetime | None:
    """A window bound as the change feed takes it: a datetime (the flow checks it is aware)."""
    if bound is None or isinstance(bound, datetime):
        return bound
    raise ValueError(f"a Commerce window bound is a timezone-aware datetime, not the date {bound}")


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """Each kind's changes after its stored cursor (a backfill: in its window), page by page;
    every page carries the cursor its kind stores once the page is durable."""
    since, until = _instant(run.since), _instant(run.until) or utcnow()  # one window end for every kind
    for kind in KINDS:
        stored, after = run.stored_cursor(kind), None  # the walk's window starts from where it stood
        while True:
            page: EntityPage = fetch_changes(run.tenant, kind, stored, after, since, until, run.page_size)
            yield Page(page, cursor=page.cursor, store_cursor=page.cursor is not None, cursor_name=kind,
                       counters={"pages": 1})
            if not page.more:
                break
            after = page.after


def read_named(run: Run, claimed: list[Claimed]) -> Iterator[Page]:
    """The entities the notifications ``claimed`` name, read by id, kind by kind in the listing's
    order. Called inside a task (engine/inbox.py): the read's code, without a task run of its own."""
    named = named_entities(claimed)
    for kind in KINDS:
        if named.get(kind):
            yield Page(fetch_by_ids.fn(run.tenant, kind, named[kind]), store_cursor=False)


def to_rows(run: Run, page: Page) -> Batch:
    """A page's documents as ledger rows; a posted one whose Intacct write would stay as it is
    is a plain re-read (a duplicate), not a revision."""
    commerce = run.resources.commerce("procure")
    rows = page_rows(page.items, commerce)
    stored = run.ledger.rows_by_key(INTEGRATION, [(r.doc_type, "", r.natural_key) for r in rows]) if rows else {}
    return Batch(rows=unchanged_as_duplicates(rows, {(t, k): row for (t, _, k), row in stored.items()}, commerce))


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """What a dead run's writes left in Intacct: a create is looked up by its target reference; a
    change or cancellation by the state it leaves (the bill holds the revision, or is gone or
    reversed). Found -> posted; not found -> received, written again under the same key."""
    client = run.resources.intacct()
    changes = find_changes(client, stale, run.resources.commerce("procure"))
    creates = [c.target_ref for c in stale if c.id not in changes and c.target_ref]
    found = find_targets(client, creates) if creates else {}
    outcomes = []
    for c in stale:
        if c.id in changes:
            outcomes.append(Outcome(c.id, POSTED) if changes[c.id] else Outcome(
                c.id, RECEIVED, error_class="recovered", error="intent without outcome; revision not applied in Intacct"))
        elif c.target_ref in found:
            outcomes.append(Outcome(c.id, POSTED, target_id=found[c.target_ref]))
        else:
            outcomes.append(Outcome(c.id, RECEIVED, error_class="recovered",
                                    error="intent without outcome; not found in Intacct"))
    return outcomes


def recover_vendors(run: Run) -> dict[str, int]:
    """The vendor intents dead runs left (of this integration or of the vendor master), settled
    through the vendor pipeline's ``find`` before any document needs them."""
    vendors = Run(run.tenant, MASTER, run.run_id)
    settled = recover_intents(as_is(commerce_ap_vendors.PIPELINE), as_is(vendors),
                              finished_runs(run.tenant, MASTER, run.run_id))
    return {"recovered_vendors": settled["recovered_posted"] + settled["recovered_requeued"]}


def drain(run: Run) -> dict[str, int]:
    """Post what is left received, a few passes while a pass still posts something (a credit
    memo waits for the bill the pass before may post). Returns how many still wait."""
    waiting = 0
    for _ in range(PENDING_PASSES):
        after, posted, waiting = 0, 0, 0
        while ids := run.ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
            result = post_ap_documents(run.tenant, as_is(ids), run.run_id)
            run.posted.append(result)
            posted += result.get(POSTED, 0)
            waiting += result.get("waiting", 0)
            after = ids[-1]
        if not waiting or not posted:
            break
    return {"waiting": waiting}


def preview(tenant: str, mapping: Any, content: bytes, name: str) -> str:
    """``ml-connector preview``: the Intacct function a Commerce order, invoice or credit memo
    (JSON) becomes, on the vendor a run would create for its customer."""
    if mapping.commerce is None or mapping.commerce.procure is None:
        raise ValueError(f"tenant {tenant} has no commerce.procure section (try --tenant demo-commerce)")
    return preview_ap(content, mapping.commerce, name)


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=post_ap_documents, find=find,
                    reconcile=Reconciliation("reconcile_commerce_ap", "commerce_ap_frames"),
                    before=(recover_vendors,), inbox=InboxSource(INBOX, read_named), drain=drain, preview=preview,
                    resend=commerce_ap_creates)
