"""Adobe Commerce -> Sage Intacct (procure): orders, invoices and credit memos become AP bills,
purchase orders (B2B orders paid by purchase order) and AP adjustments, on the vendor of the
Commerce customer (matched, or created once).

One run: settle what a dead run left half-done; take the webhook notifications stored for
this integration and read the entities they name; then (``poll``) page through each kind
changed since its cursor, in the order orders, invoices, credit memos (a credit memo credits a
bill). Each page is recorded in the ledger, posted, and only then is the kind's cursor stored.
Documents left received (a vendor another run was creating, a bill not posted yet, a transient
failure) are posted at the end. A backfill (``since``/``until``) reads the same way and leaves
the live cursors alone.

Deployed twice over in prefect.yaml: on a schedule (the poll, the safety net) and on the event
``ml-connector.adobe.notification`` the webhook service emits (``poll: false``: only what the
notifications name, at once).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow, get_run_logger
from prefect.states import State

from ..connectors.adobe import OVERLAP, SyncCursor
from ..settings import intent_lease_seconds
from ..tasks.commerce_ap import KINDS, fetch_by_ids, fetch_changes, ingest_entities, page_rows, utcnow
from ..tasks.commerce_ap_docs import INTEGRATION
from ..tasks.commerce_ap_post import post_ap_documents, resolve_ap_intents
from ..tasks.commerce_ap_vendors import MASTER
from ..tasks.commerce_ap_webhooks import finish_ap_notifications, take_ap_notifications
from ..tasks.ops import finished_runs
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..engine import current_run_id

MAX_PAGES = 100_000  # a guard: 10 million documents of one kind in one run
PENDING_PASSES = 3  # a credit memo waits for its bill, which the pass before it may post


@flow(name="commerce-to-intacct-ap", log_prints=False, flow_run_name=run_name(INTEGRATION))
def commerce_to_intacct_ap(
    tenant: str = "demo-commerce",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    poll: bool = True,
    page_size: int = 100,
) -> State:
    """Post Commerce documents changed since the cursors (and those webhooks named) to Intacct.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (timezone-aware); leaves the live cursors alone.
        until: Backfill window end (timezone-aware).
        dry_run: Read and map, write nothing.
        poll: Read Commerce's changes by cursor; false: only what stored webhook notifications name.
        page_size: Commerce records read per page.
    """
    run_id = current_run_id()
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        raise ValueError("since and until must be timezone-aware")
    if dry_run:
        return _dry_run(tenant, since, until or utcnow(), page_size)
    retried = replay_earlier_attempts(tenant, INTEGRATION, run_id)
    resolved = resolve_ap_intents(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()),
                                  finished_vendor_runs=finished_runs(tenant, MASTER, run_id))
    notes = _notifications(tenant, run_id)
    counts = {"pages": 0, "webhook_notifications": notes, "retried": retried}
    if poll or since is not None or until is not None:
        window_end = until or utcnow()
        for kind in KINDS:
            counts["pages"] += _read_kind(tenant, kind, run_id, since, window_end, backfill=since is not None or until is not None,
                                          page_size=page_size)
    counts["waiting"] = _post_pending(tenant, run_id)
    return finish_run(tenant, INTEGRATION, run_id, extra={**resolved, **counts})


def _notifications(tenant: str, run_id: str) -> int:
    """Read, record and post what the stored webhook notifications name; returns how many."""
    note_ids, named = take_ap_notifications(tenant, run_id)
    for kind in KINDS:
        if named.get(kind):
            ids = ingest_entities(tenant, fetch_by_ids(tenant, kind, named[kind]), run_id)
            if ids:
                post_ap_documents(tenant, ids, run_id)
    finish_ap_notifications(tenant, note_ids, run_id)
    return len(note_ids)


def _read_kind(tenant: str, kind: str, run_id: str, since: datetime | None, until: datetime, *,
               backfill: bool, page_size: int) -> int:
    """Page through one kind; the cursor is stored after each page is recorded and posted."""
    ledger = tenant_resources(tenant).ledger
    after = None
    if not backfill and (stored := ledger.get_cursor(INTEGRATION, kind)):
        since = SyncCursor.decode(stored).updated_at - OVERLAP
    pages = 0
    for pages in range(1, MAX_PAGES + 1):
        page = fetch_changes(tenant, kind, after, since, until, page_size)
        ids = ingest_entities(tenant, page, run_id)
        if ids:
            post_ap_documents(tenant, ids, run_id)
        if not backfill and page.cursor:
            # Durable and posted: a crash from here on resumes after this page.
            ledger.set_cursor(INTEGRATION, page.cursor, kind)
        if not page.more:
            break
        after = page.cursor
    return pages


def _post_pending(tenant: str, run_id: str) -> int:
    """Post documents left received (by earlier runs, or waiting on a vendor or bill), a few
    passes while a pass still posts something. Returns how many are still waiting."""
    ledger = tenant_resources(tenant).ledger
    waiting = 0
    for _ in range(PENDING_PASSES):
        after, posted, waiting = 0, 0, 0
        while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
            result = post_ap_documents(tenant, ids, run_id)
            posted += result.get("posted", 0)
            waiting += result.get("waiting", 0)
            after = ids[-1]
        if not waiting or not posted:
            break
    return waiting


def _dry_run(tenant: str, since: datetime | None, until: datetime, page_size: int) -> dict:
    """Read and map without writing anything anywhere: what a real run would do."""
    res = tenant_resources(tenant)
    commerce = res.commerce("procure")
    tally = {"read": 0, "would_post": 0, "would_skip": 0, "would_quarantine": 0}
    for kind in KINDS:
        start, after = since, None
        if since is None and (stored := res.ledger.get_cursor(INTEGRATION, kind)):
            start = SyncCursor.decode(stored).updated_at - OVERLAP
        for _ in range(MAX_PAGES):
            page = fetch_changes(tenant, kind, after, start, until, page_size)
            for row in page_rows(page, commerce):
                tally["read"] += 1
                tally[{"received": "would_post", "skipped": "would_skip"}.get(row.status, "would_quarantine")] += 1
            if not page.more:
                break
            after = page.cursor
    get_run_logger().info("dry run for %s: %s", tenant, tally)
    return tally
