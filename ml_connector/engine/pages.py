"""The page loop: read, record, post, settle, and store the cursor only once a page is durable."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from .context import MAX_PAGES, Run
from .pipeline import Page, Pipeline
from .task_args import as_is


@dataclass
class Recorded:
    """What recording one page left to do: post ``new_ids`` (their payloads already mapped) and
    settle ``settle`` at the source."""

    new_ids: list[int]
    payloads: dict = field(default_factory=dict)
    settle: list[Any] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


# Never cached: it writes the ledger, and hashing a page of 500 documents for a key nobody
# uses costs more than the write.
@task(name="record_page", cache_policy=NO_CACHE)
def record_page(pipeline: Pipeline, run: Run, page: Page) -> Recorded:
    """Map one page to ledger rows and store them: every document read ends as a row (to post,
    duplicate, skipped or quarantined with its reason) before anything consumes it."""
    batch = pipeline.to_rows(run, page)
    result = run.ledger.ingest(pipeline.name, batch.rows, run.run_id)
    # update, not +: a counter that is 0 stays in the report (nothing deferred is a figure too)
    counters = Counter(page.counters)
    counters.update(batch.counters)
    return Recorded(new_ids=result.new_ids, payloads=batch.payloads, settle=batch.settle, counters=dict(counters))


def read_pages(pipeline: Pipeline, run: Run) -> dict[str, int]:
    """Page through the source from the stored cursor (from the window's start in a backfill),
    recording and posting each page; returns the pages' counters for the report.

    A page's settle step (SPS deletes) runs while the next page is recorded and posted, one
    page of it in flight: only documents durable in the ledger are settled, so a settle that
    never happens (a crash) costs a duplicate on a later read, never a document."""
    ledger = run.ledger
    cursor = None if run.backfill else ledger.get_cursor(pipeline.name, pipeline.cursor_name)
    totals: Counter[str] = Counter()
    settling = None
    pages = pipeline.read(run, cursor)
    for page in islice(pages, MAX_PAGES):
        recorded = record_page(as_is(pipeline), as_is(run), as_is(page))
        if recorded.new_ids and pipeline.post_per_page:
            run.posted.append(pipeline.post(run.tenant, as_is(recorded.new_ids), run.run_id, as_is(recorded.payloads)))
        if pipeline.settle is not None and recorded.settle:
            if settling is not None:
                totals.update(_settled(settling))
            settling = pipeline.settle.submit(run.tenant, as_is(recorded.settle))
        if page.store_cursor and not run.backfill:
            # The page is durable; a crash from here on resumes after it.
            ledger.set_cursor(pipeline.name, page.cursor, page.cursor_name or pipeline.cursor_name)
        totals.update(recorded.counters)
    if settling is not None:
        totals.update(_settled(settling))
    return dict(totals)


def _settled(settling) -> dict[str, int]:
    """The counters a settle step reports (a dict), once it is done; none otherwise."""
    done = settling.result()
    return done if isinstance(done, dict) else {}


def drain(pipeline: Pipeline, run: Run) -> dict[str, int] | None:
    """Post what earlier runs (or this one's page loop) left received: a transient failure, an
    outage, a replay, a document that waited for another. Returns the figures a pipeline's own
    drain reports, if any."""
    if pipeline.drain is not None:
        return pipeline.drain(run)
    after = 0
    while ids := run.ledger.pending_ids(pipeline.name, limit=1000, after_id=after):
        run.posted.append(pipeline.post(run.tenant, as_is(ids), run.run_id))
        after = ids[-1]
    return None
