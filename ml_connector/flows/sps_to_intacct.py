"""SPS Commerce -> Sage Intacct: RSX orders, invoices and shipments become AP bills.

One run: settle what a dead run left half-done, then page through SPS's ``out/`` folder. Each
page is fetched, recorded in the ledger, posted in batches and only then consumed from SPS,
with the cursor stored after the page is durable. Documents left received by earlier runs
(transient failures) are posted at the end. A backfill (``since``/``until``) reads the same
way but leaves documents outside its window, and the live cursor, alone.
"""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import State
from prefect.utilities.annotations import opaque

from ..settings import intent_lease_seconds
from ..tasks.inbound import INTEGRATION, ingest_page, unwrap
from ..tasks.intacct import post_bills, resolve_intents
from ..tasks.ops import finished_runs
from ..tasks.resources import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..tasks.sps import consume_files, fetch_page

MAX_PAGES = 100_000  # a guard, not a limit anyone should reach: 100k pages of 500 files


def current_run_id() -> str:
    return str(flow_run.get_id() or "local")


@flow(name="sps-to-intacct", log_prints=False, flow_run_name=run_name(INTEGRATION))
def sps_to_intacct(
    tenant: str = "demo",
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> State:
    """Poll SPS for new RSX documents and post them to Intacct as AP bills.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (document date); leaves the live cursor alone.
        until: Backfill window end (document date).
        dry_run: Read and map, write nothing.
        page_size: SPS files listed per page.
    """
    run_id = current_run_id()
    if dry_run:
        return _dry_run(tenant, page_size)
    retried = replay_earlier_attempts(tenant, INTEGRATION, run_id)
    resolved = resolve_intents(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                               lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    backfill = since is not None or until is not None
    cursor = None if backfill else ledger.get_cursor(INTEGRATION)
    deferred = 0
    upcoming, consuming = fetch_page.submit(tenant, cursor, page_size), None
    for _ in range(MAX_PAGES):
        page = upcoming.result()
        if page.next_cursor is not None:
            # The next page downloads while this one is recorded, posted and consumed. The cursor
            # names the last file listed, so consuming this page's files does not move it.
            upcoming = fetch_page.submit(tenant, page.next_cursor, page_size)
        deferred += len(page.deferred)
        # opaque: plain data holds no futures, and walking 500 files and bills looking for
        # them on every call cost more than the tasks' own orchestration
        report = ingest_page(tenant, opaque(page), run_id, since, until)
        if report.new_ids:
            post_bills(tenant, opaque(report.new_ids), run_id, opaque(report.bills))
        # The page's deletes run while the next page is recorded and posted (one page of them
        # in flight). Only files durable in the ledger are deleted, so a delete that never
        # happens (a crash) costs a duplicate on a later read, never a document.
        if consuming is not None:
            consuming.result()
        consuming = consume_files.submit(tenant, opaque(report.consumed))
        if not backfill:
            # The page is durable; a crash from here on resumes after it. At the end of the
            # listing the cursor resets: consumed files are gone, and a name-ordered cursor
            # would otherwise skip new files that sort before it (and re-reads any file whose
            # delete did not happen).
            ledger.set_cursor(INTEGRATION, page.next_cursor)
        if page.next_cursor is None:
            break
    if consuming is not None:
        consuming.result()
    _post_pending(tenant, run_id)
    return finish_run(tenant, INTEGRATION, run_id,
                      extra={**resolved, "deferred_to_next_poll": deferred, "retried": retried})


def _post_pending(tenant: str, run_id: str) -> None:
    """Post documents earlier runs left received (a transient failure, an outage, a replay)."""
    ledger = tenant_resources(tenant).ledger
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        post_bills(tenant, ids, run_id)
        after = ids[-1]


def _dry_run(tenant: str, page_size: int) -> dict:
    """Read and map without writing anything anywhere: what a real run would do."""
    res = tenant_resources(tenant)
    cursor, tally = None, {"read": 0, "would_post": 0, "would_skip": 0, "would_quarantine": 0}
    for _ in range(MAX_PAGES):
        page = fetch_page(tenant, cursor, page_size)
        for f in page.files:
            rows, _ = unwrap(f.path, f.content, res.mapping)
            tally["read"] += len(rows)
            for r in rows:
                key = {"received": "would_post", "skipped": "would_skip"}.get(r.status, "would_quarantine")
                tally[key] += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    get_run_logger().info("dry run for %s: %s", tenant, tally)
    return tally
